"""One runtime interface over every backend: ``infer(dict) -> dict`` of named tensors.

A runtime runs one graph of the I/O contract. Feeds (torch tensors or numpy arrays) are
checked against the contract before they reach the backend; outputs are torch tensors on
the runtime's device, named as in the contract.
"""

import typing

import torch

from vag_ros.engines.io_contract import GraphContract


class Runtime:
    """Base of the backends; subclasses implement ``_run``."""

    backend = ''

    def __init__(self, contract: GraphContract, device: typing.Union[str, torch.device] = 'cpu'):
        self.contract = contract
        self.device = torch.device(device)

    def infer(self, feeds: typing.Mapping[str, typing.Any]) -> typing.Dict[str, torch.Tensor]:
        """Run the graph once: {input name: tensor} -> {output name: tensor}."""
        self.contract.check_feeds(feeds)
        return self._run(feeds)

    def _run(self, feeds: typing.Mapping[str, typing.Any]) -> typing.Dict[str, torch.Tensor]:
        raise NotImplementedError

    def describe(self) -> str:
        return f'{self.backend} ({self.device})'

    def close(self) -> None:
        """Release backend resources (sessions, device buffers)."""
