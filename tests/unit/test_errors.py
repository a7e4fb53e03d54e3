"""The one error shape: RFC 9457 problem documents and validation messages flattened to field paths."""

from __future__ import annotations

from flask import Flask

from shared.errors import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPE_BASE,
    Problem,
    flatten_validation_messages,
    register_error_handlers,
)


def test_webargs_json_messages_flatten_to_dotted_field_paths() -> None:
    messages = {
        "json": {
            "title": ["Missing data for required field."],
            "rubric": {"0": {"max_score": ["Not a valid integer."]}},
        }
    }
    assert flatten_validation_messages(messages) == {
        "title": ["Missing data for required field."],
        "rubric.0.max_score": ["Not a valid integer."],
    }


def test_integer_list_indexes_from_marshmallow_become_path_segments() -> None:
    messages = {"json": {"rubric": {1: {"criterion": ["Missing data for required field."]}}}}
    assert flatten_validation_messages(messages) == {"rubric.1.criterion": ["Missing data for required field."]}


def test_deeply_nested_fields_keep_their_whole_path() -> None:
    messages = {"json": {"review": {"settings": {"due_hours": ["Must be at least 1."]}}}}
    assert flatten_validation_messages(messages) == {"review.settings.due_hours": ["Must be at least 1."]}


def test_top_level_schema_errors_are_reported_under_body() -> None:
    messages = {"json": {"_schema": ["Invalid input type."]}}
    assert flatten_validation_messages(messages) == {"body": ["Invalid input type."]}


def test_nested_schema_errors_are_reported_under_the_nested_field() -> None:
    messages = {"json": {"review": {"_schema": ["Unknown field."]}}}
    assert flatten_validation_messages(messages) == {"review": ["Unknown field."]}


def test_query_and_path_locations_are_unwrapped_too() -> None:
    messages = {"query": {"limit": ["Must be between 1 and 100."]}, "path": {"board": ["Invalid board."]}}
    assert flatten_validation_messages(messages) == {
        "limit": ["Must be between 1 and 100."],
        "board": ["Invalid board."],
    }


def test_messages_for_the_same_field_from_two_locations_are_merged() -> None:
    messages = {"json": {"limit": ["Too big."]}, "query": {"limit": ["Not a number."]}}
    assert flatten_validation_messages(messages) == {"limit": ["Too big.", "Not a number."]}


def test_an_unknown_location_is_kept_as_a_prefix() -> None:
    messages = {"cookies": {"session": ["Missing."]}}
    assert flatten_validation_messages(messages) == {"cookies.session": ["Missing."]}


def test_a_list_of_nested_errors_is_indexed() -> None:
    messages = {"json": {"links": [{"url": ["Not a valid URL."]}, {"url": ["Too long."]}]}}
    assert flatten_validation_messages(messages) == {
        "links.0.url": ["Not a valid URL."],
        "links.1.url": ["Too long."],
    }


def test_a_bare_message_list_is_reported_under_body() -> None:
    assert flatten_validation_messages(["Invalid JSON."]) == {"body": ["Invalid JSON."]}


def test_a_bare_message_string_is_reported_under_body() -> None:
    assert flatten_validation_messages("Invalid JSON.") == {"body": ["Invalid JSON."]}


def test_problem_document_has_the_rfc_9457_members() -> None:
    problem = Problem(409, "This page has been shared already", kind="duplicate-resource", existing_id="r1")
    assert problem.to_dict() == {
        "type": f"{PROBLEM_TYPE_BASE}duplicate-resource",
        "title": "Conflict",
        "status": 409,
        "detail": "This page has been shared already",
        "existing_id": "r1",
    }


def test_problem_without_a_kind_is_about_blank() -> None:
    document = Problem(404, "No such challenge").to_dict()
    assert document["type"] == "about:blank"
    assert document["title"] == "Not Found"
    assert document["status"] == 404


def test_problem_title_can_be_given() -> None:
    assert Problem(403, "Teachers only", title="Not allowed").to_dict()["title"] == "Not allowed"


def test_problem_keeps_headers_out_of_the_document() -> None:
    problem = Problem(401, "A bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    assert problem.headers == {"WWW-Authenticate": "Bearer"}
    assert "headers" not in problem.to_dict()
    assert "WWW-Authenticate" not in problem.to_dict()


def test_validation_problem_carries_the_flattened_errors() -> None:
    errors = flatten_validation_messages({"json": {"title": ["Missing data for required field."]}})
    document = Problem(422, "The request has invalid fields: title", kind="validation-error", errors=errors).to_dict()
    assert document["status"] == 422
    # Python 3.13 renamed the phrase after RFC 9110.
    assert document["title"] in {"Unprocessable Entity", "Unprocessable Content"}
    assert document["errors"] == {"title": ["Missing data for required field."]}


def test_a_problem_raised_in_a_view_answers_with_its_document_and_headers() -> None:
    app = Flask(__name__)
    register_error_handlers(app)

    @app.get("/private")
    def private() -> str:
        raise Problem(401, "A bearer token is required", kind="unauthorized", headers={"WWW-Authenticate": "Bearer"})

    response = app.test_client().get("/private")
    assert response.status_code == 401
    assert response.mimetype == PROBLEM_MEDIA_TYPE
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json() == {
        "type": f"{PROBLEM_TYPE_BASE}unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": "A bearer token is required",
    }
