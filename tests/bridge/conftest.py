from tests.bridge.helpers import bridges

__all__ = ["bridges"]
