# The two commands of the README. Each installs what it needs into .venv by itself.
VENV ?= .venv
export MUJOCO_GL ?= egl

.PHONY: run test demo bootstrap lint

bootstrap:
	@VAG_VENV=$(VENV) bash scripts/bootstrap.sh

## Main job: record expert episodes in the embedded world as rosbag2 (MCAP) bags.
run: bootstrap
	$(VENV)/bin/vag-ros sim-record --episodes $${EPISODES:-6} --out $${OUT:-runs/episodes-$$(date +%Y%m%d-%H%M%S)}

## The ROS graph on the embedded world with the committed checkpoint (in one process).
demo: bootstrap
	$(VENV)/bin/vag-ros demo --instructions $${INSTRUCTIONS:-3} --out $${OUT:-runs/demo-$$(date +%Y%m%d-%H%M%S)}

## Tests: unit, bag round trips, the world's experts, lint and the colcon packaging check.
test: bootstrap
	$(VENV)/bin/python -m pytest -q -ra $${PYTEST_ARGS:-}

lint: bootstrap
	$(VENV)/bin/ament_flake8 --config setup.cfg vag_ros test launch setup.py
