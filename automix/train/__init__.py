"""Training of the automix networks: trainer (fit / train_step / validate), checkpoints, torchrun/DDP, monitoring.

Command line: ``python -m automix.train CONFIG.py --results-folder DIR --folder-suffix NAME`` (:mod:`.cli`).
"""
