"""The udev hook's fast path: built-in modules only, cheap to import (see docs/architecture.md)."""
