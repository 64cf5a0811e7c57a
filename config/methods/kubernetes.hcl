# The "kubernetes" auth method: every key. The keys outside `config` (min_backoff,
# max_backoff, exit_on_err, namespace) are described in config/agent.hcl.
#
# The pod's service account token is sent to <mount_path>/login as {"role", "jwt"}; the server
# reviews it with the Kubernetes API. The token file is read afresh at every login, since
# Kubernetes rotates projected tokens, and never removed.
exit_after_auth = true

auto_auth {
  method "kubernetes" {
    # Where the Kubernetes auth method is mounted.
    # Default: "auth/kubernetes".
    mount_path = "auth/kubernetes"

    config {
      # The role of the Kubernetes auth mount to log in with. Required.
      role = "web"

      # The service account token (a projected token's path, for instance).
      # Default: "/var/run/secrets/kubernetes.io/serviceaccount/token".
      token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    }
  }
  sink "file" {
    config { path = "/run/vaultward/token" }
  }
}
