"""``--keep`` rules: which scored episodes go into the data set.

A rule is a score name (true when the score is true) or ``name<op>number`` with op one of
>=, <=, >, <. A missing score (no world to replay in: no replay success, no consistency)
fails every rule that names it. ``valid`` (the safety file passed) is always a rule, the
user's rules come on top of it, unless they name ``keep_invalid``.
"""

import dataclasses
import operator
import re
import typing

from vag_ros.errors import VagError

OPERATORS = {'>=': operator.ge, '<=': operator.le, '>': operator.gt, '<': operator.lt}
VALID = 'valid'   # the safety file passed: a rule unless --keep-invalid
FLAGS = (VALID, 'replay_success')
NUMBERS = ('consistency_psnr', 'tracking_error_mean', 'tracking_error_max', 'time_scale',
           'raw_start_error_max')
SCORES = FLAGS + NUMBERS  # every score of an episode (scores.csv, bags, data set metadata)
WORLD_DEFAULT = ('valid', 'replay_success')   # scenes of the embedded world
FRAMES_DEFAULT = ('valid',)                   # a lab's first frames: nothing to replay in
_PATTERN = re.compile(r'^\s*([a-z_]+)\s*(?:(>=|<=|>|<)\s*([-+0-9.eE]+))?\s*$')


@dataclasses.dataclass(frozen=True)
class KeepRule:
    """One condition on an episode's scores."""

    name: str
    op: typing.Optional[str] = None
    value: typing.Optional[float] = None

    def __str__(self) -> str:
        return self.name if self.op is None else f'{self.name}{self.op}{self.value:g}'

    def holds(self, scores: typing.Mapping[str, typing.Any]) -> bool:
        found = scores.get(self.name)
        if found is None:
            return False
        if self.op is None:
            return bool(found)
        return bool(OPERATORS[self.op](float(found), self.value))


def parse_rule(text: str) -> KeepRule:
    """``valid``, ``replay_success``, ``consistency_psnr>=20``...; VagError on others."""
    match = _PATTERN.match(text)
    if not match:
        raise VagError(f'--keep {text!r}: expected NAME or NAME>=NUMBER (ops >= <= > <)')
    name, op, number = match.groups()
    if op is None:
        if name not in FLAGS:
            raise VagError(f'--keep {text!r}: {name!r} is not a yes/no score; those are '
                           f'{", ".join(FLAGS)}; numbers ({", ".join(NUMBERS)}) need a '
                           'threshold, e.g. consistency_psnr>=20')
        return KeepRule(name)
    if name not in NUMBERS:
        raise VagError(f'--keep {text!r}: {name!r} is not a numeric score; those are '
                       f'{", ".join(NUMBERS)}')
    try:
        value = float(number)
    except ValueError:
        raise VagError(f'--keep {text!r}: {number!r} is not a number') from None
    return KeepRule(name, op, value)


def parse_rules(texts: typing.Optional[typing.Sequence[str]],
                default: typing.Sequence[str], keep_invalid: bool = False
                ) -> typing.Tuple[KeepRule, ...]:
    """``valid`` and the rules of ``texts`` (comma-separated items allowed), or ``default``;
    with ``keep_invalid`` (--keep-invalid) without ``valid``: the trajectories the safety
    file refuses may then be kept (an empty tuple keeps every episode)."""
    items = [t for text in (texts or default) for t in text.split(',') if t.strip()]
    if texts and not items:
        raise VagError('--keep gives no rule; name at least one (e.g. replay_success)')
    rules = tuple(parse_rule(t) for t in items)
    if keep_invalid:
        if texts and any(r.name == VALID for r in rules):
            raise VagError(f'--keep {VALID} and --keep-invalid contradict each other; give '
                           'one of them')
        return tuple(r for r in rules if r.name != VALID)
    if not any(r.name == VALID and r.op is None for r in rules):
        rules = (KeepRule(VALID),) + rules  # the safety file is never overruled silently
    return rules


def kept(scores: typing.Mapping[str, typing.Any], rules: typing.Sequence[KeepRule]) -> bool:
    """Whether every rule holds for ``scores``."""
    return all(rule.holds(scores) for rule in rules)
