# The two commands of the README. Each installs what it needs into .venv by itself.
VENV ?= .venv
export MUJOCO_GL ?= egl

.PHONY: run test demo record bootstrap lint lerobot

bootstrap:
	@VAG_VENV=$(VENV) bash scripts/bootstrap.sh

## Main job: the ROS graph on the embedded world with the committed checkpoint (generate,
## preview, arm, replay, record: bags + pictures), then expert episodes recorded as bags.
run: bootstrap
	$(VENV)/bin/vag-ros demo --instructions $${INSTRUCTIONS:-3} --out $${OUT:-runs/demo-$$(date +%Y%m%d-%H%M%S)}
	$(VENV)/bin/vag-ros sim-record --episodes $${EPISODES:-6} --out runs/episodes-$$(date +%Y%m%d-%H%M%S)

## Only the demo, or only the expert recording.
demo: bootstrap
	$(VENV)/bin/vag-ros demo --instructions $${INSTRUCTIONS:-3} --out $${OUT:-runs/demo-$$(date +%Y%m%d-%H%M%S)}

record: bootstrap
	$(VENV)/bin/vag-ros sim-record --episodes $${EPISODES:-6} --out $${OUT:-runs/episodes-$$(date +%Y%m%d-%H%M%S)}

## Tests: unit, bag round trips, the world's experts, lint and the colcon packaging check.
test: bootstrap
	$(VENV)/bin/python -m pytest -q -ra $${PYTEST_ARGS:-}

lint: bootstrap
	$(VENV)/bin/ament_flake8 --config setup.cfg vag_ros test launch setup.py

## lerobot 0.4.4 in its own environment beside .venv (torch 2.10; 9.2 GB, 4 min here):
## lerobot-train on vag_ros data sets, vag-ros eval-policy of its policies, the lerobot tests.
lerobot:
	@VAG_VENV=.venv-lerobot VAG_EXTRAS=lerobot bash scripts/bootstrap.sh
