import logging
import os
import sys

from app.cli import main

code = main()
if "pulsar" in sys.modules:
    # pulsar-client's C++ threads can abort a normal interpreter exit ("terminate called
    # without an active exception", SIGABRT) after its broker stopped answering. Everything
    # is flushed and committed by now, so leave without running the library's destructors.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
