"""What looks like a credential, for every rule that keeps secrets out of Git: an env variable of a
container (K001) and the annotations, Secret names and service account of `storage` (K054).
"""

from __future__ import annotations

import re

CREDENTIAL_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL", re.IGNORECASE)
# Values that are credentials whatever the variable is called (well-known token formats).
CREDENTIAL_VALUE = re.compile(
    r"^(?:AKIA|ASIA)[0-9A-Z]{16}$"                     # AWS access key id
    r"|^gh[pousr]_[A-Za-z0-9]{36,}$"                   # GitHub token
    r"|^xox[abprs]-[A-Za-z0-9-]{10,}$"                 # Slack token
    r"|^sk-[A-Za-z0-9_-]{20,}$"                        # OpenAI-style API key
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"             # PEM private key
    r"|^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"       # URL with user:password@
)


def named_like_credential(name: str) -> bool:
    """An env variable or annotation named like a credential (`*TOKEN*`, `*PASSWORD*`, `*KEY*`...)."""
    return bool(CREDENTIAL_NAME.search(name))


def looks_like_credential(value: str) -> bool:
    """A value that is a credential whatever it is called (a token, an access key, a private key)."""
    return bool(CREDENTIAL_VALUE.search(value))
