/* Reads vectors as lines "counter format channels sets v1 v2 ...", prints each encoded frame as hex. */
#include <inttypes.h>
#include <stdio.h>
#include "vigil_protocol.h"

int main(void) {
    uint32_t counter;
    unsigned fmt, channels, sets;
    while (scanf("%" SCNu32 " %u %u %u", &counter, &fmt, &channels, &sets) == 4) {
        int32_t samples[255 * VIGIL_MAX_CHANNELS];
        for (unsigned i = 0; i < sets * channels; i++) {
            if (scanf("%" SCNd32, &samples[i]) != 1) return 2;
        }
        uint8_t frame[VIGIL_OVERHEAD + 255 * VIGIL_MAX_CHANNELS * 3];
        size_t n = vigil_encode_frame(frame, counter, (uint8_t)fmt, (uint8_t)channels, (uint8_t)sets, samples);
        if (n == 0) return 3;
        for (size_t i = 0; i < n; i++) printf("%02x", frame[i]);
        printf("\n");
    }
    return 0;
}
