// bnncc C-simulation testbench: feeds the input codes of tb_data/input.hex (one image per line, one
// hex word per stream word), runs bnncc_top once per image and compares every output integer with
// tb_data/expected.txt. Prints "RESULT vectors=N mismatches=M"; exit code 1 on any mismatch.
// Usable by Vitis HLS csim and cosim (run from the project directory).
#include <stdio.h>
#include <string.h>
#include "bnncc_top.h"
#include "bnncc_layers.h"

#ifdef BNNCC_TRACE
FILE *bnncc_trace_file = 0;
#endif

static bool parse_hex(const char *text, in_word_t &word) {
    word = 0;
    if (!*text) return false;
    for (const char *p = text; *p; p++) {
        char ch = *p;
        unsigned nibble;
        if (ch >= '0' && ch <= '9') nibble = ch - '0';
        else if (ch >= 'a' && ch <= 'f') nibble = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') nibble = ch - 'A' + 10;
        else return false;
        word = (word << 4) | in_word_t(nibble);
    }
    return true;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tb_data";
    char path[4096];
    snprintf(path, sizeof path, "%s/input.hex", dir);
    FILE *fin = fopen(path, "r");
    snprintf(path, sizeof path, "%s/expected.txt", dir);
    FILE *fexp = fopen(path, "r");
    snprintf(path, sizeof path, "%s/csim_output.txt", dir);
    FILE *fout = fopen(path, "w");
    if (!fin || !fexp || !fout) {
        printf("ERROR: cannot open the files in %s\n", dir);
        return 2;
    }
#ifdef BNNCC_TRACE
    snprintf(path, sizeof path, "%s/trace.txt", dir);
    bnncc_trace_file = fopen(path, "w");
#endif
    static char token[4096];
    long vectors = 0, mismatches = 0;
    for (;;) {
        hls::stream<in_word_t> in("tb_in");
        hls::stream<out_word_t> out("tb_out");
        int ok = 1;
        for (unsigned w = 0; w < BNNCC_IN_WORDS && ok; w++) {
            in_word_t word;
            ok = fscanf(fin, "%4095s", token) == 1 && parse_hex(token, word);
            if (ok) in.write(word);
        }
        if (!ok) break;
        bnncc_top(in, out);
        if (!in.empty()) {
            printf("ERROR: image %ld left input words unread\n", vectors);
            mismatches++;
        }
        for (unsigned w = 0; w < BNNCC_OUT_WORDS; w++) {
            out_word_t word = out.read();
            for (unsigned l = 0; l < BNNCC_OUT_LANES; l++) {
                ap_uint<BNNCC_OUT_BITS> code = word.range((l + 1) * BNNCC_OUT_BITS - 1, l * BNNCC_OUT_BITS);
                long long got = (long long)bnncc::decode<BNNCC_OUT_BITS, BNNCC_OUT_ENC>(code).to_int64();
                long long want = 0;
                if (fscanf(fexp, "%lld", &want) != 1) {
                    printf("ERROR: expected.txt ends at image %ld\n", vectors);
                    return 2;
                }
                fprintf(fout, w + l ? " %lld" : "%lld", got);
                if (got != want) {
                    if (mismatches < 10)
                        printf("MISMATCH image %ld element %u: got %lld, want %lld\n", vectors,
                               w * BNNCC_OUT_LANES + l, got, want);
                    mismatches++;
                }
            }
        }
        fprintf(fout, "\n");
        if (!out.empty()) {
            printf("ERROR: image %ld produced more output words than the design declares\n", vectors);
            mismatches++;
        }
        vectors++;
    }
    printf("RESULT vectors=%ld mismatches=%ld\n", vectors, mismatches);
    fclose(fin);
    fclose(fexp);
    fclose(fout);
    return mismatches ? 1 : 0;
}
