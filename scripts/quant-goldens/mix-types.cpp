// Reads a model's shape and its tensors from stdin, prints the type llama.cpp's quantizer chooses
// for each under the mixes named on the command line (q4_k_m, q5_k_m), through
// llama_quant_compute_types as llama.cpp's own test-quant-type-selection does. For
// make-mix-goldens.ts.
//   stdin:  "arch n_embd n_ff n_layer n_head n_head_kv head_dim", then "name ne0 ne1" per tensor (ne1 0: a vector)
//   stdout: "MIX name type" per quantized tensor, "- name F32" for the others
#include "llama-ext.h"
#include "ggml.h"
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char ** argv) {
    std::string arch;
    llama_quant_model_desc desc = {};
    std::cin >> arch >> desc.n_embd >> desc.n_ff >> desc.n_layer >> desc.n_head >> desc.n_head_kv >> desc.n_embd_head_k;
    desc.architecture = arch.c_str();
    desc.n_embd_head_v = desc.n_embd_head_k;
    llama_model * model = llama_quant_model_from_metadata(&desc);
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    quantize_state_impl * qs = llama_quant_init(model, &qp);
    ggml_init_params ip = { 4096 * ggml_tensor_overhead(), nullptr, true };
    ggml_context * ctx = ggml_init(ip);
    std::vector<ggml_tensor *> ts;
    std::string name; long ne0, ne1;
    while (std::cin >> name >> ne0 >> ne1) {
        ggml_tensor * t = ne1 > 0 ? ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne0, ne1) : ggml_new_tensor_1d(ctx, GGML_TYPE_F32, ne0);
        ggml_set_name(t, name.c_str());
        if (llama_quant_tensor_allows_quantization(qs, t)) ts.push_back(t);
        else printf("- %s F32\n", name.c_str());
    }
    std::sort(ts.begin(), ts.end(), [](const ggml_tensor * a, const ggml_tensor * b) {
        int la = -1, lb = -1;
        sscanf(a->name, "blk.%d.", &la);
        sscanf(b->name, "blk.%d.", &lb);
        return la != lb ? la < lb : strcmp(a->name, b->name) < 0;
    });
    for (int i = 1; i < argc; i++) {
        const llama_ftype ft = strcmp(argv[i], "q4_k_m") == 0 ? LLAMA_FTYPE_MOSTLY_Q4_K_M : LLAMA_FTYPE_MOSTLY_Q5_K_M;
        std::vector<ggml_type> types(ts.size());
        llama_quant_compute_types(qs, ft, ts.data(), types.data(), ts.size());
        for (size_t j = 0; j < ts.size(); j++) printf("%s %s %s\n", argv[i], ts[j]->name, ggml_type_name(types[j]));
    }
    llama_quant_free(qs);
    llama_model_free(model);
    ggml_free(ctx);
}
