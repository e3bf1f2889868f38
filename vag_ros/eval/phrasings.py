"""Instructions as people say them: the held-out phrasing set (config/eval_phrasings.yaml)
and character typos, for evaluation only. No training path reads them."""

import dataclasses
import typing

import numpy as np

from vag_ros.errors import ConfigError
from vag_ros.typos import with_typos

PHRASINGS_FILE = 'config/eval_phrasings.yaml'
KINDS = ('phrasing', 'typos')     # the two variants of a scene's instruction eval scores


@dataclasses.dataclass(frozen=True)
class PhrasingSet:
    """Held-out templates per family, direction phrases per push direction, typo rules."""

    templates: typing.Mapping[str, typing.Tuple[str, ...]]
    directions: typing.Mapping[str, typing.Tuple[str, ...]]
    verbs: typing.Tuple[str, ...]
    typo_edits: int = 2
    typo_min_word: int = 4


def load_phrasings(path=None) -> PhrasingSet:
    """The phrasing set at ``path`` (default the package's); ConfigError on a bad file."""
    import yaml
    from vag_ros.resources import share_path
    from vag_ros.sim.tasks import DIRECTIONS, TASK_FAMILIES
    path = share_path(PHRASINGS_FILE) if path is None else path
    try:
        raw = yaml.safe_load(open(path, encoding='utf-8'))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f'phrasing set {path}: {exc}') from None
    if not isinstance(raw, dict) or not {'templates', 'directions', 'verbs'} <= set(raw):
        raise ConfigError(f'phrasing set {path}: needs templates, directions and verbs')
    if not all(isinstance(raw[k], dict) for k in ('templates', 'directions')) or \
            not isinstance(raw['verbs'], list):
        raise ConfigError(f'phrasing set {path}: templates and directions are mappings, '
                          'verbs a list')
    templates = {f: tuple(raw['templates'].get(f) or ()) for f in TASK_FAMILIES}
    for family, texts in templates.items():
        needed = ('{colour}', '{noun}') + (('{direction}',) if family == 'push' else ())
        if not texts or any(not isinstance(t, str) or not all(n in t for n in needed)
                            for t in texts):
            raise ConfigError(f'phrasing set {path}: every {family} template needs '
                              f'{" ".join(needed)}')
        for text in texts:
            try:
                text.format(colour='c', noun='n', direction='d')
            except (KeyError, IndexError, ValueError) as exc:
                raise ConfigError(f'phrasing set {path}: template {text!r}: only {{colour}}, '
                                  f'{{noun}} and {{direction}} are filled ({exc})') from None
    directions = {d: tuple(raw['directions'].get(d) or ()) for d in DIRECTIONS}
    if not all(directions.values()):
        raise ConfigError(f'phrasing set {path}: a phrase for each of {list(DIRECTIONS)}')
    typos = raw.get('typos') or {}
    return PhrasingSet(templates, directions, tuple(raw['verbs']),
                       int(typos.get('edits', 2)), int(typos.get('min_word', 4)))


def held_out_phrasing(task, phrasings: PhrasingSet, colour: typing.Optional[str] = None
                      ) -> str:
    """``task`` (naming ``colour``, default its target) in a held-out phrasing, drawn from
    the task's seed: the same scene always gets the same wording."""
    from vag_ros.sim.tasks import fill_template, TASK_FAMILIES
    rng = np.random.default_rng([TASK_FAMILIES.index(task.family), task.seed, 28])
    return fill_template(phrasings.templates[task.family], colour or task.target,
                         task.direction, rng, phrasings.directions)


def scene_variants(task, phrasings: PhrasingSet) -> typing.Dict[str, str]:
    """{'phrasing': a held-out phrasing of the scene, 'typos': the scene's own instruction
    with typos}: the wordings eval scores against the templated one on the same scene."""
    from vag_ros.sim.tasks import TASK_FAMILIES
    return {'phrasing': held_out_phrasing(task, phrasings),
            'typos': with_typos(task.instruction, (TASK_FAMILIES.index(task.family),
                                                   task.seed, 29),
                                phrasings.typo_edits, phrasings.typo_min_word)}
