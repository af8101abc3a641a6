#!/bin/sh
# make demo: one sandboxed program on pincer's built-in default policy,
# showing what it may do and what it may not, then the audit log it left.
set -eu
PINCER=$(realpath "${1:-build/pincer}")
demo=$(mktemp -d /tmp/pincer-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo/home/.ssh" "$demo/home/project"
echo "-----BEGIN OPENSSH PRIVATE KEY----- (demo secret)" > "$demo/home/.ssh/id_ed25519"
chmod 600 "$demo/home/.ssh/id_ed25519"
echo "print('hello from the project')" > "$demo/home/project/app.py"
audit="$demo/audit.jsonl"

# What the "agent" tries: each line is one attempt.
cat > "$demo/home/project/agent.sh" <<'AGENT'
check() { what=$1; shift; if "$@" >/dev/null 2>&1; then echo "  allowed  $what"; else echo "  denied   $what"; fi; }
echo "inside the sandbox: user $(id -un) (uid $(id -u)), host name $(hostname), pid $$"
check "read the project (app.py)"             cat app.py
check "write in the project folder"           sh -c 'echo result > out.txt'
check "run python from /usr"                  python3 -c pass
check "write to the private /tmp"             sh -c 'echo x > /tmp/scratch'
check "read ~/.ssh/id_ed25519 of the user"    cat "$USER_HOME/.ssh/id_ed25519"
check "read /etc/shadow"                      cat /etc/shadow
check "list /root"                            ls /root
check "write to /usr"                         touch /usr/pwned
check "signal a host process (pid $HOST_PID)" kill -0 "$HOST_PID"
check "fetch https://example.com (the proxy)"  curl -sS --max-time 5 https://example.com/
check "talk to 1.1.1.1:443 ignoring the proxy" python3 -c 'import socket; s=socket.create_connection(("1.1.1.1", 443), 2); s.sendall(b"GET / HTTP/1.0\r\n\r\n"); r = s.recv(200); assert r and b" 403 " not in r.split(b"\r\n")[0]'
AGENT

cat <<EOT
== pincer demo ==
A program runs in $demo/home/project on the built-in default policy:
no egress (every attempt meets the gate and is recorded), system
directories read-only, this folder read-write,
a private /tmp, and ~/.ssh, ~/.aws and the like hidden.

EOT
cd "$demo/home/project"
HOME="$demo/home" "$PINCER" run --audit "$audit" \
	--setenv USER_HOME="$demo/home" --setenv HOST_PID=$$ -- /bin/sh agent.sh
echo
echo "after the run: out.txt on the host says '$(cat out.txt)'; the sandbox's /tmp is gone."
echo
echo "== the audit log ($audit) =="
"$PINCER" audit tail "$audit"
echo
"$PINCER" audit verify "$audit"
