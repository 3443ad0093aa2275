// The recipe's YAML keys, in reference order: one table that the loader reads through and
// recipe_to_yaml writes through, so the two cannot drift apart. A visitor V provides
// section(key, fn), optional_section(key, present, fn), field(key, value), pair(key, a, b).
// Internal to the recipe loader. Key names follow the README's recipe reference.
#pragma once

#include "ptune/config/recipe.h"

namespace ptune {

// model.arch: ModelConfig under its Hugging Face config.json names.
template <class V, class M>
void visit_arch(V& v, M& a) {
  v.field("vocab_size", a.vocab_size);
  v.field("hidden_size", a.hidden_size);
  v.field("intermediate_size", a.intermediate_size);
  v.field("num_hidden_layers", a.num_hidden_layers);
  v.field("num_attention_heads", a.num_attention_heads);
  v.field("num_key_value_heads", a.num_key_value_heads);
  v.field("head_dim", a.head_dim);
  v.field("max_position_embeddings", a.max_position_embeddings);
  v.field("rope_theta", a.rope_theta);
  v.section("rope_scaling", [&] {
    v.field("type", a.rope_scaling.type);
    v.field("factor", a.rope_scaling.factor);
    v.field("low_freq_factor", a.rope_scaling.low_freq_factor);
    v.field("high_freq_factor", a.rope_scaling.high_freq_factor);
    v.field("original_max_position_embeddings", a.rope_scaling.original_max_position_embeddings);
  });
  v.field("rms_norm_eps", a.rms_norm_eps);
  v.field("tie_word_embeddings", a.tie_word_embeddings);
  v.field("model_type", a.model_type);
  v.field("attention_bias", a.attention_bias);
  v.field("bos_token_id", a.bos_token_id);
  v.field("eos_token_id", a.eos_token_id);
  v.field("pad_token_id", a.pad_token_id);
  v.field("torch_dtype", a.torch_dtype);
}

template <class V, class S>
void visit_data_source(V& v, S& s) {
  v.field("path", s.path);
  v.field("format", s.format);
  v.field("prompt_field", s.prompt_field);
  v.field("response_field", s.response_field);
  v.field("template", s.template_);
}

template <class V, class R>
void visit_recipe(V& v, R& r) {
  v.section("model", [&] {
    v.field("path", r.model.path);
    v.optional_section("arch", r.model.has_arch, [&] { visit_arch(v, r.model.arch); });
  });
  v.section("tokenizer", [&] {
    v.field("path", r.tokenizer.path);
    v.field("vocab_size", r.tokenizer.vocab_size);
    v.field("train_from", r.tokenizer.train_from);
  });
  v.section("data", [&] {
    v.section("train", [&] { visit_data_source(v, r.data.train); });
    v.section("eval", [&] { visit_data_source(v, r.data.eval); });
    v.field("seq_len", r.data.seq_len);
    v.field("add_bos", r.data.add_bos);
    v.field("chat_template", r.data.chat.chat_template);
    v.field("train_on", r.data.chat.train_on);
    v.field("packing", r.data.packing);
    v.field("shuffle", r.data.shuffle);
  });
  v.section("method", [&] {
    auto& m = r.method;
    v.field("type", m.type);
    v.section("lora", [&] {
      v.field("r", m.lora.r);
      v.field("alpha", m.lora.alpha);
      v.field("dropout", m.lora.dropout);
      v.field("targets", m.lora.targets);
      v.field("rslora", m.lora.rslora);
      v.field("init", m.lora.init);
      v.field("layers", m.lora.layers);
      v.field("modules_to_save", m.lora.modules_to_save);
      v.field("base_dtype", m.lora.base_dtype);
    });
    v.section("adapter", [&] {
      v.field("bottleneck", m.adapter.bottleneck);
      v.field("placement", m.adapter.placement);
      v.field("activation", m.adapter.activation);
      v.field("dropout", m.adapter.dropout);
    });
    v.section("prefix", [&] {
      v.field("virtual_tokens", m.prefix.virtual_tokens);
      v.field("projection", m.prefix.projection);
      v.field("projection_hidden", m.prefix.projection_hidden);
    });
  });
  v.section("mtp", [&] {
    v.field("style", r.mtp.style);
    v.field("heads", r.mtp.heads);
    v.field("loss_weight", r.mtp.loss_weight);
    v.field("head_decay", r.mtp.head_decay);
    v.field("train_base", r.mtp.train_base);
  });
  v.section("precision", [&] {
    auto& p = r.precision;
    v.auto_field("dtype", p.dtype, p.dtype_was_auto);
    v.section("loss_scale", [&] {
      v.field("dynamic", p.loss_scale.dynamic);
      v.field("init", p.loss_scale.init);
      v.field("growth_factor", p.loss_scale.growth_factor);
      v.field("backoff_factor", p.loss_scale.backoff_factor);
      v.field("growth_interval", p.loss_scale.growth_interval);
      v.field("hysteresis", p.loss_scale.hysteresis);
      v.field("min_scale", p.loss_scale.min_scale);
      v.field("max_scale", p.loss_scale.max_scale);
    });
  });
  v.section("optim", [&] {
    v.field("lr", r.optim.lr);
    v.field("weight_decay", r.optim.weight_decay);
    v.pair("betas", r.optim.beta1, r.optim.beta2);
    v.field("eps", r.optim.eps);
    v.field("grad_clip", r.optim.grad_clip);
    v.field("decay_norms_and_embeddings", r.optim.decay_norms_and_embeddings);
  });
  v.section("schedule", [&] {
    v.field("kind", r.schedule.kind);
    v.field("warmup_steps", r.schedule.warmup_steps);
    v.field("min_lr_ratio", r.schedule.min_lr_ratio);
  });
  v.section("train", [&] {
    auto& t = r.train;
    v.field("steps", t.steps);
    v.field("batch_size", t.batch_size);
    v.field("grad_accum", t.grad_accum);
    v.field("eval_every", t.eval_every);
    v.field("eval_batches", t.eval_batches);
    v.field("save_every", t.save_every);
    v.field("keep_last", t.keep_last);
    v.field("log_every", t.log_every);
    v.field("seed", t.seed);
    v.field("threads", t.threads);
    v.field("device", t.device);
    v.field("loss_chunk", t.loss_chunk);
    v.every_field("activation_checkpointing", t.activation_checkpointing);
    v.field("report", t.report);
    v.section("distributed", [&] {
      v.field("backend", t.distributed.backend);
      v.field("timeout_s", t.distributed.timeout_s);
      v.field("bucket_mb", t.distributed.bucket_mb);
    });
  });
  v.section("output", [&] {
    v.field("dir", r.output.dir);
    v.field("export", r.output.export_);
    v.field("dtype", r.output.dtype);
  });
}

}  // namespace ptune
