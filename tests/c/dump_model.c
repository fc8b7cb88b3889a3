/* Writes the exported model array to argv[1] and prints its length and alignment remainder. */
#include <stdint.h>
#include <stdio.h>
#include MODEL_HEADER

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    FILE *f = fopen(argv[1], "wb");
    if (!f) return 3;
    fwrite(MODEL_DATA, 1, sizeof(MODEL_DATA), f);
    fclose(f);
    printf("%zu %u %.9g %d\n", sizeof(MODEL_DATA), (unsigned)((uintptr_t)MODEL_DATA % 16), (double)INPUT_SCALE,
           (int)INPUT_ZERO);
    return 0;
}
