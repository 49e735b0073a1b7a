"""Model sources: where `dreamforge model download` gets weights from.

A source adapter turns a reference such as `hf:org/name@rev` or `civitai:123@456` into the list
of remote files it names, with the sizes and sha256 the source publishes; `fetch` brings each
file into the model folder resumably and commits it only once it is verified.
"""
