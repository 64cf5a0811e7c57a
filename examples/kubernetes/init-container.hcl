# vaultward as a Kubernetes init container: log in with AppRole, render the page nginx serves,
# then exit (exit_after_auth) so the Pod's app container starts with its secrets in place.
# Quoted HCL1 style, as in Vault's own Kubernetes examples. The same text is in the ConfigMap of
# init-container.yaml. The server address comes from VAULT_ADDR in the Pod spec.
"exit_after_auth" = true
"pid_file" = "/home/vault/pidfile"

"auto_auth" = {
  "method" = {
    "type" = "approle"
    "config" = {
      "role_id_file_path" = "/var/run/secrets/vaultward/role-id"
      "secret_id_file_path" = "/var/run/secrets/vaultward/secret-id"
      # A Secret volume is read-only, so the secret_id file cannot be removed.
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
