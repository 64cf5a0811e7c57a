auto_auth { , , }
