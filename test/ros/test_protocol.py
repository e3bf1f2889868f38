"""The request protocol: records round-trip through their messages, bad ones are refused."""

import json

import pytest

from vag_ros.ros.protocol import parse_request, RequestError, RequestResult


def test_a_result_round_trips_through_its_message():
    result = RequestResult('r-1', 'generated', 'vag_generator', episode_id='vag_generator-5',
                           episode_stamp_ns=5, instruction='touch it',
                           details={'seed': 3, 'timings': {'total': 1.5}})
    assert RequestResult.from_json(result.to_json()) == result
    extra = json.loads(result.to_json())
    extra['future_field'] = 1  # a newer sender's field is ignored
    assert RequestResult.from_json(json.dumps(extra)) == result


@pytest.mark.parametrize('text, match', [
    ('not json', 'request result'),
    ('[1, 2]', 'JSON object'),
    ('{"request_id": 1, "state": "x", "node": "n"}', 'request_id must be a string'),
    ('{"request_id": "a", "state": "x", "node": "n", "episode_stamp_ns": "5"}',
     'episode_stamp_ns must be an integer'),
    ('{"request_id": "a", "state": "x", "node": "n", "details": []}', 'details'),
    ('{"request_id": "a"}', 'state'),
])
def test_malformed_results_are_refused(text, match):
    with pytest.raises(RequestError, match=match):
        RequestResult.from_json(text)


def test_requests_are_text_or_json_with_an_id():
    assert parse_request('touch the red block').instruction == 'touch the red block'
    request = parse_request('{"instruction": "push it", "request_id": 7}')
    assert (request.instruction, request.request_id) == ('push it', '7')
    for bad, match in (('{"instruction": ', 'looks like JSON'),
                       ('{"request_id": "x"}', 'needs "instruction"'),
                       ('{"instruction": "a", "colour": "red"}', 'unknown request field'),
                       ('{"instruction": "a", "request_id": "' + 'x' * 200 + '"}',
                        'at most 128')):
        with pytest.raises(RequestError, match=match):
            parse_request(bad)
