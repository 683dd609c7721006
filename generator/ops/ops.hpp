/// \file
/// Registration of every op kind and torch.nn layer; one file per op.
#pragma once

#include <vector>

#include "../op.hpp"

namespace ltgen {

void register_all_ops(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);

// Layers and their ops.
void register_linear(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_relu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_leaky_relu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_gelu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_tanh(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_sigmoid(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_silu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_elu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // ELU, CELU, SELU
void register_softplus(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_mish(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_hardswish(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // Hardswish, Hardsigmoid
void register_hardtanh(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);   // Hardtanh, ReLU6
void register_shrink(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // Hardshrink, Softshrink, Tanhshrink
void register_threshold(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_softsign(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_log_sigmoid(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_prelu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_glu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
// The recurrent layers (recurrent.hpp: what they share).
void register_rnn(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_lstm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_gru(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_reverse_steps(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // their reverse direction
void register_dropout(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_identity(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_flatten(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_pad(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad 1d/2d/3d
/// A pad node (mode "constant", "reflect", "replicate" or "circular") of the last `dims` (1 or 2)
/// dimensions of `input` by `pads` (left, right[, top, bottom]), as F.pad; returns its output,
/// named `<layer>_out`. Three dimensions (pads ending front, back) are two such nodes between views.
/// Throws ShapeError where torch would refuse the padding.
int add_pad(Graph& g, const std::string& layer, const std::string& source, int input, int dims, const std::string& mode,
            std::vector<std::int64_t> pads, double value = 0.0);
void register_pixel_shuffle(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // PixelShuffle, PixelUnshuffle
void register_reshape(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // Reshape (a view), Transpose
void register_narrow(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);   // Narrow, Select
void register_reduce_dim(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // Mean, Sum over a dimension
void register_layer_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_rms_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
/// LayerNorm's and RMSNorm's normalized_shape: the layer's argument (an int or a list), or the input's
/// last dimension when left out; throws ShapeError unless it is the input's trailing dimensions.
std::vector<std::int64_t> normalized_shape_of(const LayerBuild& b, int input);
void register_batch_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
/// CUDA: the evaluation kernel of a norm with running statistics (BatchNorm, a tracking
/// InstanceNorm), a thread per element of an (N, C, L) input: out = inp * a + b, `terms` defining a
/// and b from m = running_mean[c] and s = 1 / sqrt(running_var[c] + kEps); `constants` writes kC,
/// kL and kEps.
void emit_running_stats_eval_kernel(CodeWriter& k, const std::string& kernel, bool affine, const std::string& terms,
                                    const std::function<void(CodeWriter&)>& constants);
/// The host's side of it: in evaluation (`training` false) the kernel's launch over n * kC * kL
/// elements, then return.
void emit_running_stats_eval_launch(CodeWriter& w, const std::string& kernel, bool affine);
void register_local_response_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_group_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_instance_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // InstanceNorm1d, InstanceNorm2d
void register_softmax(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_softmin(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // after Softmax
void register_log_softmax(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_embedding(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_embedding_bag(std::vector<LayerDef>& layers);  // an Embedding and a Sum or Mean
void register_fold(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // Unfold and Fold
void register_conv(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // Conv1d, Conv2d, Conv3d
void register_conv_transpose(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // ConvTranspose1d, 2d, 3d
void register_multihead_attention(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_attention_in_projection(std::vector<OpDef>& ops);
void register_key_padding_mask(std::vector<OpDef>& ops);
void register_transformer_layers(std::vector<LayerDef>& layers);  // of the layers above  // cross-attention's
void register_positional_embedding(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // nanoGPT's wpe
void register_max_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_avg_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_adaptive_avg_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_adaptive_max_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_pool1d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // MaxPool1d, AvgPool1d, AdaptiveAvgPool1d
void register_pool3d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // MaxPool3d, AdaptiveMaxPool3d
void register_avg_pool3d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // AvgPool3d, AdaptiveAvgPool3d
void register_upsample(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // Upsample, mode 'nearest' 
void register_upsample_linear(std::vector<OpDef>& ops);  // Upsample's linear modes
void register_upsample_cubic(std::vector<OpDef>& ops);  // Upsample's bicubic mode
// Losses.
void register_mse_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_l1_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_huber_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_kl_div_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_poisson_nll_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_soft_margin_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_hinge_embedding_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_multilabel_soft_margin_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_cross_entropy_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_bce_with_logits_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_smooth_l1_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_nll_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_multilabel_margin_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_ctc_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_cross_entropy_probs(std::vector<OpDef>& ops);
/// CrossEntropyLoss's build on float targets, class probabilities of the logits' shape (cross_entropy_probs.cpp).
int build_cross_entropy_probs(LayerBuild& b, const std::vector<int>& in);
void register_multi_margin_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_bce_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
// model.graph's combining layers; Add is also the op autodiff sums gradients with.
void register_mul(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_concat(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_bilinear(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_pair_losses(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // MarginRankingLoss, CosineEmbeddingLoss
void register_gaussian_nll_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
void register_channel_shuffle(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // a view, a Transpose, a view
void register_distances(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // CosineSimilarity, PairwiseDistance
void register_add(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);
// Add and Mul of values of different shapes (broadcast_add, broadcast_mul, broadcast_grad).
void register_broadcast(std::vector<OpDef>& ops);
/// A broadcast_add or broadcast_mul node (`op`) of a and b; returns its output, `<layer>_out`.
int add_broadcast(Graph& g, const std::string& op, const std::string& layer, const std::string& source, int a, int b);
void register_to_bf16(std::vector<OpDef>& ops, std::vector<LayerDef>& layers);  // bf16-mixed: to_bf16, param_grad_add

}  // namespace ltgen
