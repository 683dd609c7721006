/// \file
/// The list of op files: adding an op is one line here plus its own file.
#include "ops.hpp"

namespace ltgen {

void register_all_ops(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  register_linear(ops, layers);
  register_relu(ops, layers);
  register_leaky_relu(ops, layers);
  register_gelu(ops, layers);
  register_tanh(ops, layers);
  register_sigmoid(ops, layers);
  register_silu(ops, layers);
  register_elu(ops, layers);
  register_softplus(ops, layers);
  register_mish(ops, layers);
  register_hardswish(ops, layers);
  register_hardtanh(ops, layers);
  register_shrink(ops, layers);
  register_threshold(ops, layers);
  register_softsign(ops, layers);
  register_log_sigmoid(ops, layers);
  register_prelu(ops, layers);
  register_glu(ops, layers);
  register_dropout(ops, layers);
  register_identity(ops, layers);
  register_flatten(ops, layers);
  register_pad(ops, layers);
  register_pixel_shuffle(ops, layers);
  register_reshape(ops, layers);
  register_narrow(ops, layers);
  register_reduce_dim(ops, layers);
  register_layer_norm(ops, layers);
  register_rms_norm(ops, layers);
  register_group_norm(ops, layers);
  register_local_response_norm(ops, layers);
  register_instance_norm(ops, layers);
  register_batch_norm(ops, layers);
  register_softmax(ops, layers);
  register_softmin(ops, layers);
  register_log_softmax(ops, layers);
  register_embedding(ops, layers);
  register_embedding_bag(layers);
  register_fold(ops, layers);
  register_conv(ops, layers);
  register_conv_transpose(ops, layers);
  register_multihead_attention(ops, layers);
  register_attention_in_projection(ops);
  register_key_padding_mask(ops);
  register_transformer_layers(layers);
  register_rnn(ops, layers);
  register_lstm(ops, layers);
  register_gru(ops, layers);
  register_reverse_steps(ops, layers);
  register_positional_embedding(ops, layers);
  register_max_pool2d(ops, layers);
  register_avg_pool2d(ops, layers);
  register_adaptive_avg_pool2d(ops, layers);
  register_adaptive_max_pool2d(ops, layers);
  register_pool1d(ops, layers);
  register_pool3d(ops, layers);
  register_avg_pool3d(ops, layers);
  register_upsample(ops, layers);
  register_upsample_linear(ops);
  register_upsample_cubic(ops);
  register_mse_loss(ops, layers);
  register_l1_loss(ops, layers);
  register_huber_loss(ops, layers);
  register_kl_div_loss(ops, layers);
  register_poisson_nll_loss(ops, layers);
  register_soft_margin_loss(ops, layers);
  register_hinge_embedding_loss(ops, layers);
  register_pair_losses(ops, layers);
  register_multilabel_soft_margin_loss(ops, layers);
  register_smooth_l1_loss(ops, layers);
  register_cross_entropy_loss(ops, layers);
  register_cross_entropy_probs(ops);
  register_nll_loss(ops, layers);
  register_multi_margin_loss(ops, layers);
  register_multilabel_margin_loss(ops, layers);
  register_ctc_loss(ops, layers);
  register_bce_with_logits_loss(ops, layers);
  register_bce_loss(ops, layers);
  register_add(ops, layers);
  register_mul(ops, layers);
  register_broadcast(ops);
  register_concat(ops, layers);
  register_bilinear(ops, layers);
  register_distances(ops, layers);
  register_gaussian_nll_loss(ops, layers);
  register_channel_shuffle(ops, layers);
  register_to_bf16(ops, layers);
}

}  // namespace ltgen
