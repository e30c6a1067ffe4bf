#!/usr/bin/env python3
"""Builds the seed corpora in fuzz/corpus/ from tests/fixtures/ and sample/.

    fuzz/mkcorpus.py BUILDDIR [SRCDIR]

Real caches come from the project's own tools, BUILDDIR/scim-refreshd --import
(every fixture directory and sample/) and BUILDDIR/tests/scim-mkcache (a few
shapes the fixtures lack: no users, a group of 600 members, several chunks);
the record and index seeds are cut out of those caches.  Run it again after a
format change; the seeds a fuzzer found (crash inputs, minimised coverage) are
kept beside these under their own names and are not touched.  The committed
seeds are the subset of what this writes that libFuzzer's -merge=1 keeps (the
rest adds no coverage); see fuzz/README."""
import hashlib
import json
import shutil
import os
import struct
import subprocess
import sys
import tempfile

build = os.path.abspath(sys.argv[1])
src = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), '..'))
corpus = os.path.join(src, 'fuzz', 'corpus')
tmp = tempfile.mkdtemp(prefix='scim-corpus.')

TDB_MAGIC = 0x26011999


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def short(data):
    return hashlib.sha1(data).hexdigest()[:12]


def import_cache(name, srcdir, extra=''):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, 'state'))
    with open(os.path.join(d, 'conf'), 'w') as f:
        f.write('state_dir = %s/state\ncache_file = %s/cache.tdb\n%s' % (d, d, extra))
    subprocess.run([os.path.join(build, 'scim-refreshd'), '--config', os.path.join(d, 'conf'), '--once',
                    '--import', srcdir], check=True, stderr=subprocess.DEVNULL)
    return os.path.join(d, 'cache.tdb')


def mkcache(name, text):
    path = os.path.join(tmp, name + '.tdb')
    subprocess.run([os.path.join(build, 'tests', 'scim-mkcache'), path], input=text.encode(), check=True)
    return path


def records(data):
    """(key, value) of every live record of a tdb file, in file order."""
    hash_size = struct.unpack_from('<I', data, 36)[0]
    off = 168 + 4 * (hash_size + 1)
    while off + 24 <= len(data):
        _, rec_len, key_len, data_len, _, magic = struct.unpack_from('<6I', data, off)
        if magic == TDB_MAGIC:
            k = data[off + 24:off + 24 + key_len]
            yield k, data[off + 24 + key_len:off + 24 + key_len + data_len]
        off += 24 + rec_len


caches = {}
for d in ['sample', 'tests/fixtures/github-emu', 'tests/fixtures/groups', 'tests/fixtures/hostile',
          'tests/fixtures/rfc7643']:
    name = 'import-' + os.path.basename(d)
    caches[name] = import_cache(name, os.path.join(src, d), 'strip_domain = yes\n')
caches['import-private-group'] = import_cache('import-private-group', os.path.join(src, 'sample'),
                                              'strip_domain = yes\nprimary_group = users\n')
caches['mkcache-empty'] = mkcache('empty', 'source:import:/nowhere\n')
caches['mkcache-biggroup'] = mkcache('biggroup', 'user:alice:1879048200:1879048200:Alice:/home/alice:/bin/sh:'
                                     'active:a1:1879048300\nbiggroup:big:1879048300:m:600\n')
# two user chunks (SCIM_CHUNK_USERS is 256; the group cursor is the same code), kept small
caches['mkcache-chunks'] = mkcache('chunks', ''.join(
    'user:u%d:%d:%d::/:/:%s:%d:\n' % (i, 1879048200 + i, 1879048200 + i, 'suspended' if i % 7 == 0 else 'active', i)
    for i in range(257)))

index_kind = {ord('U'): 0, ord('u'): 1, ord('G'): 2, ord('g'): 3, ord('P'): 4, ord('p'): 5}
seen = set()
for name, path in sorted(caches.items()):
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) <= 64 * 1024:
        put('cache', name + '.tdb', data)
    recs = list(records(data))
    for k, v in recs:
        tag = k[:1]
        if tag in (b'U', b'G', b'H', b'P', b'R') and v not in seen and len(seen) < 120:
            seen.add(v)
            # mis 0..7 and a buffer size: what fuzz_records.c reads first
            put('records', '%s-%s' % (tag.decode().lower() + tag.decode(), short(v)),
                bytes([len(seen) % 8]) + struct.pack('<H', 64 + 16 * (len(seen) % 8)) + v)
        if tag == b'P' and len(v) < 8192:
            # the passwd items inside a chunk
            pos = 0
            while pos + 4 <= len(v) and len(seen) < 120:
                n = struct.unpack_from('<I', v, pos)[0]
                item = v[pos + 4:pos + 4 + n]
                pos += 4 + n
                if item not in seen:
                    seen.add(item)
                    put('records', 'item-' + short(item), bytes([pos % 8]) + struct.pack('<H', 40) + item)
        if tag == b'I' and len(v) <= 8192:
            put('index', 'table-%s-%s' % (chr(k[1]), short(v)), bytes([index_kind[k[1]]]) + v)
    loc = [v for k, v in recs if k == b'X']
    if loc and len(data) <= 8192:
        # locator + the whole file: offsets in the locator are file offsets
        put('index', 'raw-' + name, bytes([0x80, len(loc[0])]) + loc[0] + data)

# scim_index_build round trips: (check, offset) pairs, with a shared check
# and offsets that force each slot layout.
put('index', 'build-small', bytes([0xC0]) + b''.join(struct.pack('<II', i * 0x9E3779B9 & 0xffffffff, 4 * i + 4)
                                                      for i in range(20)))
put('index', 'build-collide', bytes([0xC0]) + b''.join(struct.pack('<II', 7, 4 * i + 4) for i in range(9)))
put('index', 'build-odd', bytes([0xC0]) + b''.join(struct.pack('<II', i * 0x85EBCA6B & 0xffffffff, 3 * i + 1)
                                                    for i in range(12)))

# Configs: the sample's and the tests', each followed by a directory entry
# (flags, uid, name, gecos) taken from the fixtures.
configs = {
    'sample': open(os.path.join(src, 'sample', 'scim-refreshd.conf')).read(),
    'network': 'url = https://scim.example.com/scim/v2/\ntoken_file = /etc/scim/token\n'
               'ca_file = /etc/ssl/ca.pem\nheader = X-Tenant: acme\nrefresh_interval = 600\npage_size = 500\n'
               'timeout = 20\nmax_response_bytes = 32M\n',
    'mapping': 'name_attribute = urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber\n'
               'uid_attribute = externalId\ngid_attribute = externalId\nuid_min = 5000\nuid_max = 5009\n'
               'home = /srv/home/%U/%u%%\nshell = /bin/zsh\nprimary_group = users\n'
               'deny_names = admin, operator\ndeny_names = backup\nmax_removed_percent = 100\n'
               'lowercase_names = no\nstrip_domain = yes  # comment\n',
    'errors': 'state_dir = /var/lib/x\n# comment\nuid_mn = 5\nuid_min = 12abc\n',
}
entries = []
for d in ['tests/fixtures/github-emu', 'tests/fixtures/hostile', 'tests/fixtures/rfc7643', 'sample']:
    with open(os.path.join(src, d, 'Users.json'), 'rb') as f:
        doc = json.load(f)
    for u in doc.get('Resources', []) if isinstance(doc, dict) else []:
        if not isinstance(u, dict):
            continue
        name = u.get('userName')
        gecos = u.get('displayName') or (u.get('name') or {}).get('formatted') if isinstance(u.get('name'), dict) \
            else u.get('displayName')
        if isinstance(name, str):
            entries.append((name.encode()[:255], (gecos if isinstance(gecos, str) else '').encode()))
for i, (name, gecos) in enumerate(entries[:40]):
    conf = list(configs.values())[i % len(configs)]
    put('config', 'entry-%02d-%s' % (i, short(name + gecos)),
        conf.encode() + b'\0' + bytes([(i % 8) | 0x80]) + struct.pack('<I', 1879048192 + i) + bytes([len(name)]) +
        name + gecos)
for name, conf in configs.items():
    put('config', 'conf-' + name, conf.encode())
shutil.rmtree(tmp)
print('corpus written to', corpus)
