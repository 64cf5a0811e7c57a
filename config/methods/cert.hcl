# The "cert" (TLS client certificate) auth method: every key. The keys outside `config`
# (min_backoff, max_backoff, exit_on_err, namespace) are described in config/agent.hcl.
#
# The login is a POST to <mount_path>/login with {"name"} (or {} without `name`) over a TLS
# connection that presents the client certificate. The login's connection starts from the
# `vault {}` TLS settings and replaces only what this config names. The server's listener must
# ask for client certificates (OpenBao's does unless `tls_disable_client_certs` is set).
exit_after_auth = true

vault {
  address = "https://vault.example.com:8200"
}

auto_auth {
  method "cert" {
    # Where the cert auth method is mounted.
    # Default: "auth/cert".
    mount_path = "auth/cert"

    # The whole config block is optional when vault.client_cert / client_key are set.
    config {
      # The certificate role to log in against (auth/cert/certs/<name>).
      # Default: unset (the server picks the role that trusts the certificate).
      name = "web"

      # The client certificate and its private key (PEM). Set both or neither.
      # Default: vault.client_cert and vault.client_key; one of the two pairs is required.
      client_cert = "/etc/vault/client.pem"
      client_key  = "/etc/vault/client-key.pem"

      # CA certificates trusted for the server during the login (PEM).
      # Default: vault.ca_cert / vault.ca_path (or the system's roots).
      ca_cert = "/etc/vault/ca.pem"

      # Read the certificate and key again at every login, for certificates renewed on disk;
      # otherwise they are read at the first login only.
      # Default: false.
      reload = false
    }
  }
  sink "file" {
    config { path = "/run/vaultward/token" }
  }
}
