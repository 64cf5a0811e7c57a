# The agent config of the classic "Vault-aware nginx" Kubernetes example, as Vault Agent reads
# it (quoted HCL1 keys, a Go template): vaultward runs it unchanged.
#
#   VAULT_ADDR=https://vault.example.com:8200 vaultward agent -config=nginx.hcl -log-level=debug

"exit_after_auth" = true
"pid_file" = "/etc/secrets/pidfile"

"auto_auth" = {
  "method" = {
    "type" = "approle"
    "config" = {
      "role_id_file_path" = "/etc/vault/roleid"
      "secret_id_file_path" = "/etc/vault/secretid"
    }
  }
  "sink" = {
    "type" = "file"
    "config" = {
      "path" = "/etc/secrets/.vault-token"
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
