"""The five special tokens every tokenizer has, at fixed ids, defined once for tokenizers, models and decoding.

A leaf module (no imports), so models and tokenizers can share the ids without importing each other.
"""
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]", "[MASK]")
PAD_ID, UNK_ID, BOS_ID, EOS_ID, MASK_ID = range(len(SPECIAL_TOKENS))
CLS_ID = BOS_ID  # the encoder models put [BOS] in front of every text and pool it as [CLS]
