Feature: Hosted model providers
  Admins register the outside model APIs (their kind, an https base URL, the models they
  offer with per-token prices); every user lists them and attaches one of their stored
  credentials to one, and an admin may attach one for everyone. A user's own credential
  wins over the system's. The credential's value never appears: a provider only names it.

  Background:
    Given a fresh deployment
    And a user "root" who is an admin
    And a user "alice" who is logged in
    And a user "bob" who is logged in

  Scenario: An admin registers a provider; each user's own credential wins over the system's
    When "root" posts to "/v1/providers" the body {"name": "Open Router", "kind": "openai", "base_url": "https://openrouter.ai/api/v1/", "models": [{"name": "meta-llama/llama-3.1-8b", "input_usd_per_mtok": 0.05, "output_usd_per_mtok": 0.08}]}
    Then the response status is 201
    And the response field "name" is "open-router"
    And the response field "base_url" is "https://openrouter.ai/api/v1"
    And the response field "models.0.name" is "meta-llama/llama-3.1-8b"
    When "alice" gets "/v1/providers/open-router"
    Then the response status is 200
    And the response has no field "credential"
    When "root" posts to "/v1/credentials" the body {"name": "router-team", "provider": "openrouter", "value": "sk-or-team-4b1c"}
    And "root" puts to "/v1/providers/open-router/credential" the body {"credential_name": "router-team", "scope": "system"}
    Then the response status is 200
    When "alice" gets "/v1/providers"
    Then the response field "providers.0.credential.scope" is "system"
    And the response field "providers.0.credential.credential_name" is "router-team"
    When "alice" posts to "/v1/credentials" the body {"name": "my-router", "provider": "openrouter", "value": "sk-or-alice-77aa"}
    And "alice" puts to "/v1/providers/open-router/credential" the body {"credential_name": "my-router"}
    Then the response status is 200
    And the response field "credential.scope" is "user"
    And the response field "credential.credential_name" is "my-router"
    And the response body does not contain "sk-or-alice-77aa"
    When "bob" gets "/v1/providers/open-router"
    Then the response field "credential.credential_name" is "router-team"
    When "alice" sends DELETE to "/v1/providers/open-router/credential"
    Then the response status is 200
    And the response field "credential.scope" is "system"
    When "alice" gets "/v1/audit?action=provider.*"
    Then the response body does not contain "sk-or-"
    And the response field "events.0.action" is "provider.detach"

  Scenario: Only admins register or remove providers, or attach for everyone
    When "alice" posts to "/v1/providers" the body {"name": "mine", "kind": "openai", "base_url": "https://api.example.com/v1", "models": [{"name": "m"}]}
    Then the response status is 403
    And the error code is "admin_required"
    When "root" posts to "/v1/providers" the body {"name": "acme", "kind": "anthropic", "base_url": "https://api.acme.example", "models": [{"name": "claude-x", "input_usd_per_mtok": 3, "output_usd_per_mtok": 15}]}
    Then the response status is 201
    When "alice" posts to "/v1/credentials" the body {"name": "acme-key", "provider": "anthropic", "value": "sk-ant-1"}
    And "alice" puts to "/v1/providers/acme/credential" the body {"credential_name": "acme-key", "scope": "system"}
    Then the response status is 403
    When "alice" puts to "/v1/providers/acme/credential" the body {"credential_name": "bobs-key"}
    Then the response status is 404
    And the error code is "credential_not_found"
    When "alice" sends DELETE to "/v1/providers/acme"
    Then the response status is 403
    When "root" posts to "/v1/providers" the body {"name": "Acme", "kind": "openai", "base_url": "https://other.example", "models": [{"name": "m"}]}
    Then the response status is 409
    And the error code is "provider_name_taken"
    When "root" sends DELETE to "/v1/providers/acme"
    Then the response status is 204
    When "alice" gets "/v1/providers/acme"
    Then the response status is 404
    And the error code is "provider_not_found"

  Scenario Outline: A provider that would leak a key, or reach plain http, is refused
    When "root" posts to "/v1/providers" the body <body>
    Then the response status is 400
    And the error code is "<code>"

    Examples:
      | body | code |
      | {"name": "p", "kind": "openai", "base_url": "http://api.example.com/v1", "models": [{"name": "m"}]} | invalid_provider |
      | {"name": "p", "kind": "openai", "base_url": "https://me:sk-1@api.example.com/v1", "models": [{"name": "m"}]} | invalid_provider |
      | {"name": "p", "kind": "openai", "base_url": "https://api.example.com/v1?key=sk-1", "models": [{"name": "m"}]} | invalid_provider |
      | {"name": "p", "kind": "openai", "base_url": "https://api.example.com/v1", "models": []} | invalid_provider |
      | {"name": "p", "kind": "openai", "base_url": "https://api.example.com/v1", "models": [{"name": "m", "input_usd_per_mtok": -1}]} | invalid_provider |
      | {"name": "p", "kind": "gemini", "base_url": "https://api.example.com/v1", "models": [{"name": "m"}]} | invalid_body |
