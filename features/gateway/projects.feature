Feature: Projects
  A project binds a git repository (URL, default branch, a credential kept server-side)
  to its owner. Only the owner sees it; the credential is accepted and never shown back.
  A task may belong to one of its owner's projects.

  Background:
    Given a user "alice" who is logged in

  Scenario: Create, list, get, update and delete a project; the credential never comes back
    When "alice" posts to "/v1/projects" the body {"name": "Widgets App", "repo_url": "https://github.com/acme/widgets.git", "credential": "ghp_never_shown"}
    Then the response status is 201
    And the response field "name" is "widgets-app"
    And the response field "default_branch" is "main"
    And the response field "has_credential" is true
    And the response body does not contain "ghp_never_shown"
    When "alice" gets "/v1/projects"
    Then the response status is 200
    And the response body does not contain "ghp_never_shown"
    When "alice" patches "/v1/projects/widgets-app" with the body {"default_branch": "develop", "auto_start": true}
    Then the response status is 200
    And the response field "default_branch" is "develop"
    And the response field "auto_start" is true
    And the response field "has_credential" is true
    When "alice" gets "/v1/projects/widgets-app"
    Then the response field "default_branch" is "develop"
    When "alice" sends DELETE to "/v1/projects/widgets-app"
    Then the response status is 204
    When "alice" gets "/v1/projects/widgets-app"
    Then the response status is 404
    And the error code is "project_not_found"

  Scenario: Another user's project does not exist for them
    Given a user "bob" who is logged in
    When "alice" posts to "/v1/projects" the body {"name": "private", "repo_url": "file:///srv/git/private.git"}
    Then the response status is 201
    When "bob" gets "/v1/projects/private"
    Then the response status is 404
    When "bob" posts to "/v1/tasks" the body {"commands": ["true"], "project": "private"}
    Then the response status is 404
    And the error code is "project_not_found"
    When "alice" posts to "/v1/tasks" the body {"commands": ["true"], "project": "private"}
    Then the response status is 201

  Scenario Outline: Bad projects are refused with a clear reason
    When "alice" posts to "/v1/projects" the body <body>
    Then the response status is 400
    And the error code is "<code>"

    Examples:
      | body                                                                                  | code                 |
      | {"name": "x", "repo_url": "https://user:pw@github.com/acme/x.git"}                    | invalid_repo_url     |
      | {"name": "x", "repo_url": "github.com/acme/x"}                                        | invalid_repo_url     |
      | {"name": "x", "repo_url": "https://github.com/acme/x.git", "default_branch": "a..b"} | invalid_branch       |
      | {"name": "!!!", "repo_url": "https://github.com/acme/x.git"}                          | invalid_project_name |
      | {"name": "x", "repo_url": "https://github.com/acme/x.git", "credential": " "}         | invalid_credential   |
      | {"name": "x"}                                                                         | invalid_body         |
