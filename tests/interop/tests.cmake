# Interoperability tests check dqt's files with outside readers (launch/fetch_interop.sh); a run
# without them reads as skipped in ctest's summary, not as passed (tests/testing/run_gtest.sh, as
# for every gtest entry: interop/gguf_llama_cpp_test without the node packages,
# data/sentencepiece_test without the LLaMA-2 vocabulary).
