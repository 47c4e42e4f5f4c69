"""Build a small causal LM and its tokenizer offline: no hub, no download.

Used by the toy code world (the default model of run_plum.sh), the tests and the benchmarks. The model is a
standard transformers Llama, randomly initialised, so every stage loads it exactly as it loads a hub model:
`AutoModelForCausalLM.from_pretrained(path)`.

    >>> path = build_tiny_model("/tmp/tiny", corpus=["def add(a, b):\\n    return a + b\\n"], vocab_size=300)
    >>> # AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path) now work offline
"""

import os

EOS, PAD = "<|endoftext|>", "<|pad|>"

# A ChatML-style template for the chat variant: enough to exercise the chat-prompt path of 01/02/06.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(corpus, vocab_size=512, chat=False):
    """A byte-level BPE tokenizer trained on `corpus` (an iterable of strings) in a second or two."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [EOS, PAD] + (["<|im_start|>", "<|im_end|>"] if chat else [])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(corpus), trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, bos_token=EOS)
    if chat:
        hf.chat_template = CHAT_TEMPLATE
    return hf


def build_tiny_model(path, corpus=None, vocab_size=512, hidden=64, layers=2, heads=4, max_positions=1024,
                     chat=False, seed=0):
    """Write a randomly initialised Llama (`layers` x `hidden`) and its tokenizer to `path`; return `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if corpus is None:
        corpus = [
            "def add(a, b):\n    return a + b\n",
            "assert add(2, 3) == 5\n",
            "Write a function to find the maximum of a list.\n```python\ndef f(xs):\n    return max(xs)\n```\n",
            "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n",
        ] * 20
    tok = build_tokenizer(corpus, vocab_size=vocab_size, chat=chat)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                      max_position_embeddings=max_positions, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg)
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
