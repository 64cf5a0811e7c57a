# vaultward as a long-running Kubernetes sidecar: log in with AppRole, keep the token renewed
# (logging in again before it expires), and re-render the page nginx serves whenever the secret
# changes. No exit_after_auth. Quoted HCL1 style, as in Vault's own Kubernetes examples. The same
# text is in the ConfigMap of sidecar.yaml. The server address comes from VAULT_ADDR.
"pid_file" = "/home/vault/pidfile"

"auto_auth" = {
  "method" = {
    "type" = "approle"
    "config" = {
      "role_id_file_path" = "/var/run/secrets/vaultward/role-id"
      "secret_id_file_path" = "/var/run/secrets/vaultward/secret-id"
      # A Secret volume is read-only, so the secret_id file cannot be removed. Later logins
      # read the files again, so use a secret_id without a short TTL or use limit.
      "remove_secret_id_file_after_reading" = false
    }
  }

  "sink" = {
    "type" = "file"
    "config" = {
      "path" = "/home/vault/.token"
    }
  }
}

"template_config" = {
  # Read the secret again every minute and rewrite the page when it changed.
  "static_secret_render_interval" = "1m"
}

"template" = {
  "destination" = "/etc/secrets/index.html"
  "contents" = <<EOT
<html>
<body>
<p>Some secrets:</p>
{{- with secret "secret/data/app/config" }}
<ul>
<li><pre>username: {{ .Data.data.username }}</pre></li>
<li><pre>password: {{ .Data.data.password }}</pre></li>
</ul>
{{ end }}
</body>
</html>
EOT
}
