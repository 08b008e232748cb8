"""The stand-in's bar: ``desc: n/total postfix`` printed every ``miniters`` steps and at the
last step, messages on lines of their own."""
import sys


class TqdmWarning(Warning):
    pass


class tqdm:
    def __init__(self, total=None, initial=0, desc="", file=None, miniters=None, leave=True,
                 **_display_options):
        self.total, self.n, self.desc = total, initial, desc
        self.file = file if file is not None else sys.stderr
        self.every = miniters or max(1, (total or 20) // 20)
        self.postfix = ""

    def set_postfix_str(self, s="", refresh=True):
        self.postfix = s

    def update(self, n=1):
        self.n += n
        if n and (self.n % self.every == 0 or self.n == self.total):
            self.file.write(f"{self.desc}: {self.n}/{self.total}  {self.postfix}\n")
            self.file.flush()

    def write(self, s, file=None):
        target = file if file is not None else self.file
        target.write(s + "\n")
        target.flush()

    def close(self):
        pass
