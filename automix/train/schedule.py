"""TEMPORARY stand-in for automix.config.learning_rate_at until the configs branch is merged."""


def learning_rate_at(config: dict, epoch: int) -> float:
    remaining = epoch
    for n_epochs, lr in config["LR_SCHEDULE"]:
        if remaining < n_epochs:
            return float(lr)
        remaining -= n_epochs
    raise ValueError(f"epoch {epoch} is past the schedule's {config['NUM_EPOCHS']} epochs")
