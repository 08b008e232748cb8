"""`minigrad reproduce`: the seeds' experiments trained with their presets, and the report
that sets our numbers beside theirs.

    command.py    the subcommand: which experiments, where the runs go, the report
    runs.py       train a preset (or read its finished run), what its log holds, the machine
    seeds.py      the numbers the seed documents report
    hw4.py        HW4 (seed 003): five models, HW4's estimates every 200 steps
    cervantes.py  the Cervantes notebook (seed 000): four models, first-epoch losses
    thesis.py     the thesis (seed 002): its final model, val and test, bits per character
    copy.py       seed 001's copy task, and a real copy task
    plot.py       our curves with the seed's points
"""
