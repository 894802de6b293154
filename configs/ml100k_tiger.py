"""MovieLens-100K, small TIGER-style model: the embedded default recipe.

  python -m jaxrec.main --config=configs/ml100k_tiger.py[:ENCODER] --workdir=DIR

ENCODER picks the item encoder of the semantic IDs (see
jaxrec/semantic_ids/encoders.py): collaborative (default), lexical,
sentence_transformer (MiniLM) or precomputed.

A job takes about 21 minutes on a 2-core CPU (docs/results.md). Tuned on the
validation split (docs/tuning.md): the sweep's best variant, history 50 with
dropout and label smoothing 0.1 and twice the steps, is
configs/ml100k_tiger_long.py; it costs ~8x this recipe on a CPU and scores the
same on test, so this default keeps history 20.
"""

import ml_collections

from jaxrec import recipes


def get_config(encoder: str = "collaborative") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.data = ml_collections.ConfigDict()
  config.data.name = "movielens_100k"
  config.data.data_dir = ""          # default: WORKDIR/data
  config.data.manual_dir = ""        # files placed by hand (no download)
  config.data.verify_checksums = True
  config.data.register_checksums = False  # record source sha256s (once)
  config.data.max_history = 20       # TIGER: the 20 most recent items
  # Iterative k-core filter (0 = off): users / items with fewer interactions
  # are removed until none is left.
  config.data.min_user_interactions = 0
  config.data.min_item_interactions = 0
  # > 0: each user's first N interactions only (a sparse variant).
  config.data.max_user_interactions = 0
  # > 0: drop each user's last N interactions; 1 is the validation variant
  # of any protocol (its test targets are the validation targets).
  config.data.drop_last_interactions = 0
  # > 0: the cold-start protocol (docs/cold_start.md): this fraction of the
  # items, the latest by first appearance, is held out of training and
  # validation and added to the catalogue after training.
  config.data.cold_items = 0.0

  # Semantic IDs: residual k-means over item embeddings. MovieLens items
  # carry little text (a title, genres, a year), and IDs from it share
  # prefixes between items that users do not watch together. Collaborative
  # embeddings (PPMI-SVD of the training sequences' co-occurrences, the
  # "collaborative indexing" of Hua et al., SIGIR-AP 2023) put items watched
  # together behind the same prefixes. Chosen on validation NDCG@10.
  config.tokenizer = recipes.tokenizer_recipe("rqkmeans", encoder)
  # Balanced clusters: the largest bucket of items sharing all three codes
  # drops from 38 to 13 items, and validation NDCG@10 rises (0.1114 -> 0.1158
  # at the best checkpoint, collaborative encoder).
  config.tokenizer.balanced = True

  config.model = ml_collections.ConfigDict()
  # decoder_only | item_level | encoder_decoder (jaxrec/models/generator.py).
  config.model.family = "decoder_only"
  config.model.num_layers = 2
  config.model.num_heads = 4
  config.model.embed_dim = 128
  config.model.mlp_dim = 512
  config.model.dropout_rate = 0.2
  config.model.dtype = "float32"
  # > 0: each history item's last token also carries a hashed embedding of its
  # whole code tuple, with this many rows (jaxrec/models/decoder.py).
  config.model.tuple_buckets = 0
  # item_level only: hidden width of the code head's per-level MLP (0: the
  # embedding width), and the weight of the item re-scoring loss (0: off;
  # > 0 trains an item score h . e_i that re-ranks the beams, LIGER-style).
  config.model.head_mlp_dim = 0
  config.model.item_score_weight = 0.0
  # Decoding with the item score: rank by log p(codes) + scale * s(h, i).
  # A decoding setting (training ignores it): `jaxrec.evaluate
  # --item_score_scale` and benchmarks/rescore_scale.py try others on a
  # trained run.
  config.model.item_score_scale = 1.0
  # item_level only: catalogue-normalised loss (each level's softmax over the
  # codes that can follow the prefix in the catalogue; decoding likewise).
  config.model.catalogue_loss = False
  # encoder_decoder only: decoder layers (0: num_layers, the encoder's).
  config.model.num_decoder_layers = 0

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 1e-3
  config.optimizer.warmup_steps = 200
  config.optimizer.end_lr_ratio = 0.01
  config.optimizer.b1 = 0.9
  config.optimizer.b2 = 0.98
  config.optimizer.weight_decay = 0.1
  config.optimizer.grad_clip_norm = 1.0

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 64          # global, windows per step
  config.train.num_steps = 3000
  config.train.label_smoothing = 0.0
  config.train.log_every_steps = 100
  config.train.checkpoint_every_steps = 500
  config.train.eval_every_steps = 500   # validation NDCG@10 picks the best
  config.train.keep_checkpoints = 2
  config.train.profile_start_step = 0   # > 0: jax.profiler trace from here
  config.train.profile_num_steps = 5

  config.eval = ml_collections.ConfigDict()
  config.eval.split = "test"
  # How validation and the final report rank: "beam" (constrained beam
  # search) or "exact" (every item's score; costs the whole catalogue).
  config.eval.mode = "beam"
  config.eval.beam_size = 20           # >= the largest cutoff (20)
  config.eval.batch_size = 64
  config.eval.mask_history = True      # never recommend an already-seen item
  # Cold-start protocol only (data.cold_items > 0): the content-only
  # baseline's profile is the user's latest N items, and cold_slots > 0
  # also reports lists whose top 10 reserve that many places for the items
  # added after training (the model's best among them).
  config.eval.content_recent_items = 5
  config.eval.cold_slots = 0

  # Mesh (data, fsdp, tensor); -1 takes the remaining devices.
  config.mesh = ml_collections.ConfigDict()
  config.mesh.data = -1
  config.mesh.fsdp = 1
  config.mesh.tensor = 1
  # Logical axis -> mesh axes.
  config.sharding_rules = [
      ("batch", ("data", "fsdp")),
      ("embed", "fsdp"),
      ("mlp", "tensor"),
      ("heads", "tensor"),
      ("kv", None),
      ("vocab", None),
      ("position", None),
  ]
  return config
