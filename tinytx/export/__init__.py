"""Runs that leave tinytx: ONNX graphs (onnx.py), Hugging Face GPT-2 layout and back (hf.py), and tokenizer
files that Hugging Face `tokenizers` loads (tokenizer.py). Each needs an optional extra (`tinytx[onnx]`,
`tinytx[hf]`); the core install never imports them."""
