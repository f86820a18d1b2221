"""Serve a GGUF model with llama.cpp's own HTTP server (the xllamacpp wheel) on 127.0.0.1.

Started and stopped by `cargo xtask llm-server`; runs until SIGTERM.
Usage: launch.py MODEL.gguf PORT TEMPLATE.jinja ALIAS
"""

import signal
import sys
import threading

import xllamacpp


def main() -> None:
    model_path, port, template_path, alias = sys.argv[1:5]
    params = xllamacpp.CommonParams()
    params.model.path = model_path
    params.hostnames = ["127.0.0.1"]
    params.port = int(port)
    params.n_ctx = 4096
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    params.use_jinja = True
    params.ui = False
    # A set of names in current llama.cpp; a bare string would become a set of its characters.
    params.model_alias = {alias}
    with open(template_path, encoding="utf-8") as template:
        params.chat_template = template.read()
    server = xllamacpp.Server(params)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"serving {alias} on http://127.0.0.1:{port}/v1", flush=True)
    stop.wait()
    del server


if __name__ == "__main__":
    main()
