/*
 * ggml's reference quantizers and dequantizers (ggml-quants.c) behind stdin/stdout, for
 * make-quant-goldens.py:  harness q TYPE N  (N f32 in, blocks out)  |  harness d TYPE N  (blocks in, N f32 out)
 * Built with -ffp-contract=off: the reference is the C source's float arithmetic, one rounding per operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml-quants.h"

/* The few ggml.c symbols ggml-quants.c links against; the reference paths never call them. */
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "abort %s:%d %s\n", file, line, fmt); exit(1); }
size_t ggml_row_size(enum ggml_type t, int64_t ne) { (void)t; (void)ne; abort(); }
const char * ggml_type_name(enum ggml_type t) { (void)t; return "?"; }
size_t ggml_type_size(enum ggml_type t) { (void)t; abort(); }

static size_t block_bytes(const char * t, int * qk) {
  *qk = 32;
  if (!strcmp(t, "Q8_0")) return sizeof(block_q8_0);
  if (!strcmp(t, "Q4_0")) return sizeof(block_q4_0);
  if (!strcmp(t, "Q4_1")) return sizeof(block_q4_1);
  if (!strcmp(t, "Q5_0")) return sizeof(block_q5_0);
  if (!strcmp(t, "Q5_1")) return sizeof(block_q5_1);
  *qk = 256;
  if (!strcmp(t, "Q4_K")) return sizeof(block_q4_K);
  if (!strcmp(t, "Q5_K")) return sizeof(block_q5_K);
  if (!strcmp(t, "Q6_K")) return sizeof(block_q6_K);
  fprintf(stderr, "unknown type %s\n", t);
  exit(2);
}

int main(int argc, char ** argv) {
  if (argc != 4) return 2;
  const char * t = argv[2];
  int n = atoi(argv[3]), qk;
  size_t bytes = block_bytes(t, &qk) * (n / qk);
  float * x = malloc(n * sizeof(float));
  void * q = malloc(bytes);
  if (argv[1][0] == 'q') {
    if (fread(x, sizeof(float), n, stdin) != (size_t)n) return 3;
    if (!strcmp(t, "Q8_0")) quantize_row_q8_0_ref(x, q, n);
    else if (!strcmp(t, "Q4_0")) quantize_row_q4_0_ref(x, q, n);
    else if (!strcmp(t, "Q4_1")) quantize_row_q4_1_ref(x, q, n);
    else if (!strcmp(t, "Q5_0")) quantize_row_q5_0_ref(x, q, n);
    else if (!strcmp(t, "Q5_1")) quantize_row_q5_1_ref(x, q, n);
    else if (!strcmp(t, "Q4_K")) quantize_row_q4_K_ref(x, q, n);
    else if (!strcmp(t, "Q5_K")) quantize_row_q5_K_ref(x, q, n);
    else if (!strcmp(t, "Q6_K")) quantize_row_q6_K_ref(x, q, n);
    fwrite(q, 1, bytes, stdout);
  } else {
    if (fread(q, 1, bytes, stdin) != bytes) return 3;
    if (!strcmp(t, "Q8_0")) dequantize_row_q8_0(q, x, n);
    else if (!strcmp(t, "Q4_0")) dequantize_row_q4_0(q, x, n);
    else if (!strcmp(t, "Q4_1")) dequantize_row_q4_1(q, x, n);
    else if (!strcmp(t, "Q5_0")) dequantize_row_q5_0(q, x, n);
    else if (!strcmp(t, "Q5_1")) dequantize_row_q5_1(q, x, n);
    else if (!strcmp(t, "Q4_K")) dequantize_row_q4_K(q, x, n);
    else if (!strcmp(t, "Q5_K")) dequantize_row_q5_K(q, x, n);
    else if (!strcmp(t, "Q6_K")) dequantize_row_q6_K(q, x, n);
    fwrite(x, sizeof(float), n, stdout);
  }
  return 0;
}
