"""The ``flask`` command groups, one module each."""
from balancer.cli.import_from import import_cli
from balancer.cli.keys import keys_cli
from balancer.cli.maintenance import logs_cli, secrets_cli
from balancer.cli.models import models_cli
from balancer.cli.pools import pools_cli
from balancer.cli.settings import settings_cli
from balancer.cli.tokens import tokens_cli

__all__ = ["import_cli", "keys_cli", "logs_cli", "models_cli", "pools_cli", "secrets_cli", "settings_cli",
           "tokens_cli"]
