Feature: cynork provider and creds attach: hosted model providers
  An admin adds a provider (its kind, https base URL and models with prices) and removes
  it; everyone lists them; `cynork creds attach NAME --provider P` makes a stored
  credential the one a provider's calls use (yours, or with --system everyone's default).

  Scenario: An admin adds a provider, attaches a credential for everyone and removes the provider
    Given I am logged in as the admin
    When I run "cynork provider add 'CLI Router' --kind openai --base-url https://router.example/api/v1 --model 'meta-llama/llama-3.1-8b@0.05/0.08' --model tiny"
    Then the exit code is 0
    And stdout mentions "name=cli-router"
    And stdout mentions "models=meta-llama/llama-3.1-8b@0.05/0.08,tiny@0/0"
    And stdout mentions "credential=none"
    When I run "cynork creds create router-team --provider openrouter" with stdin "sk-or-cli-team-5d2e"
    And I run "cynork creds attach router-team --provider cli-router --system"
    Then the exit code is 0
    And stdout mentions "credential=router-team (system)"
    And stdout does not mention "sk-or-cli-team-5d2e"
    When I run "cynork providers list"
    Then the exit code is 0
    And stdout mentions "name=cli-router"
    When I run "cynork provider add bad --kind openai --base-url http://router.example/v1 --model m"
    Then the exit code is 6
    And stderr mentions "https"
    When I run "cynork provider add bad --kind gemini --base-url https://router.example/v1 --model m"
    Then the exit code is 2
    When I run "cynork provider remove cli-router -y"
    Then the exit code is 0
    When I run "cynork provider get cli-router"
    Then the exit code is 4

  Scenario: A user attaches her own key; only admins add providers
    Given I am logged in
    When I run "cynork provider add mine --kind openai --base-url https://api.example/v1 --model m"
    Then the exit code is 3
    When I run "cynork creds attach nobodys-key --provider nowhere"
    Then the exit code is 4
