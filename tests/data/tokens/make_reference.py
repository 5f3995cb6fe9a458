"""Compute the o200k_base reference counts for the token-estimate corpus (run once, by hand).

tiktoken cannot download its encodings here, so this reads a local copy of the official
`o200k_base.tiktoken` file (plain or .gz) and checks it against tiktoken's published SHA-256.
One PyPI package that ships it is the `bpe-openai` wheel
(`bpe_openai/data/o200k_base.tiktoken.gz`):

    pip download bpe-openai --no-deps -d /tmp/bpe && unzip /tmp/bpe/*.whl -d /tmp/bpe
    pip install tiktoken
    python tests/data/tokens/make_reference.py /tmp/bpe/bpe_openai/data/o200k_base.tiktoken.gz

Writes tests/data/tokens/reference.json. tests/test_tokens.py also uses `load_encoding`
as an extra check when AICLIENT_O200K_FILE names such a file and tiktoken is installed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
REFERENCE = HERE / "reference.json"
# tiktoken_ext.openai_public: expected_hash of o200k_base.tiktoken.
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# The o200k_base pre-tokeniser pattern, as published in tiktoken_ext.openai_public.
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


def load_encoding(path: Path) -> Any:
    """A tiktoken Encoding for o200k_base built from a verified local vocabulary file."""
    import tiktoken

    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != O200K_SHA256:
        raise SystemExit(f"{path}: sha256 {digest} is not the published o200k_base file")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in raw.splitlines() if line)
    }
    return tiktoken.Encoding(
        name="o200k_base",
        pat_str=O200K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    )


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_file())


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(f"usage: {argv[0]} PATH/TO/o200k_base.tiktoken[.gz]")
    import tiktoken

    encoding = load_encoding(Path(argv[1]))
    counts = {
        p.name: len(encoding.encode_ordinary(p.read_text(encoding="utf-8"))) for p in corpus_files()
    }
    document = {
        "encoding": "o200k_base",
        "vocabulary_sha256": O200K_SHA256,
        "tiktoken_version": tiktoken.__version__,
        "counted": "encode_ordinary(file text decoded as UTF-8)",
        "counts": counts,
    }
    REFERENCE.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {REFERENCE} ({len(counts)} samples, {sum(counts.values())} tokens)")


if __name__ == "__main__":
    main(sys.argv)
