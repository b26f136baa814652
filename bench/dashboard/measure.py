"""Times dashboard pages against the API's JSON routes for the same data.

Signs in like a browser (the sign-in form's CSRF cookie, then the session
cookie), then asks each page and its JSON peer N times over one keep-alive
connection each, and prints a Markdown table of p50/p95 and their ratio.

usage: measure.py BASE_URL API_KEY JOB_ID N [overview]
(with `overview`, that page alone)
"""
import http.client
import re
import statistics
import sys
import time
import urllib.parse

base, key, job, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
only_overview = sys.argv[5:] == ["overview"]
host = urllib.parse.urlparse(base).netloc


def conn():
    return http.client.HTTPConnection(host, timeout=30)


def sign_in():
    c = conn()
    c.request("GET", "/dashboard/login")
    r = c.getresponse()
    body = r.read().decode()
    login_cookie = r.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', body).group(1)
    form = urllib.parse.urlencode({"key": key, "csrf": token})
    c.request("POST", "/dashboard/login", body=form,
              headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": login_cookie})
    r = c.getresponse()
    r.read()
    cookies = [v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie"]
    session = next(c for c in cookies if c.startswith("chorus_session=") and len(c) > 20)
    return session


def timed(path, headers):
    c = conn()
    samples = []
    for i in range(n + 3):
        t = time.perf_counter()
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        body = r.read()
        dt = (time.perf_counter() - t) * 1000
        assert r.status == 200, (path, r.status, body[:200])
        if i >= 3:  # warm-up
            samples.append(dt)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], len(body)


session = sign_in()
page_headers = {"Cookie": session}
api_headers = {"Authorization": f"Bearer {key}"}
pairs = [
    ("overview", "/dashboard", None),
    ("jobs (50 a page)", "/dashboard/jobs", "/v1/jobs?limit=50"),
    ("jobs, status=failed", "/dashboard/jobs?status=failed", "/v1/jobs?status=failed&limit=50"),
    ("dead", "/dashboard/dead", "/v1/jobs?status=dead&limit=50"),
    ("a job", f"/dashboard/jobs/{job}", f"/v1/jobs/{job}"),
    ("webhooks", "/dashboard/webhooks", "/v1/webhooks"),
    ("documents", "/dashboard/documents", "/v1/documents?limit=50"),
    ("usage", "/dashboard/usage", "/v1/usage"),
]
if only_overview:
    pairs = pairs[:1]
print("| page | HTML p50 ms | HTML p95 ms | JSON route | JSON p50 ms | HTML/JSON p50 |")
print("|---|---:|---:|---|---:|---:|")
worst = 0.0
for name, page, api in pairs:
    p50, p95, _ = timed(page, page_headers)
    worst = max(worst, p95)
    if api:
        a50, _, _ = timed(api, api_headers)
        print(f"| {name} | {p50:.1f} | {p95:.1f} | `{api}` | {a50:.1f} | {p50 / a50:.2f} |")
    else:
        print(f"| {name} | {p50:.1f} | {p95:.1f} | - | - | - |")
print(f"\nslowest p95: {worst:.1f} ms")
