#!/bin/sh
# Make a busybox rootfs tarball from Debian's busybox-static package: the
# test and demo image (there is no registry to pull from).
# usage: hack/busybox-rootfs.sh OUT.tar
set -eu
out=${1:?usage: $0 OUT.tar}
bb=/bin/busybox # busybox-static's binary: no shared libraries to copy
[ -x "$bb" ] || { echo "busybox-static is not installed (apt-get install -y busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root" "$dir/home" "$dir/var" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/usr/bin" "$dir/usr/sbin" "$dir/sbin"
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for a in $("$dir/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"
done
cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
P
cat > "$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
www-data:x:33:
staff:x:50:www-data
nogroup:x:65534:
G
tar -C "$dir" --numeric-owner -cf "$out" .
