/// The web console's Mustache templates, compiled into the binary (nothing is read from
/// disk at run time). Every value is rendered with `{{ }}`, which HTML-escapes `< > & " '`;
/// the templates never use the unescaped forms. A page template renders the `head` and
/// `foot` partials around its content; the parts that refresh live are partials of their
/// own, served alone as the page's fragment (`?fragment=live`).
enum ConsoleTemplates {
    /// The templates by name.
    static let all: [String: String] = [
        "head": head, "foot": foot, "sign-in": signIn, "message": message,
        "sites": sites, "sites-live": sitesLive,
        "site": site, "site-live": siteLive,
        "vm": vm, "vm-live": vmLive,
        "plan-rows": planRows, "plans": plans, "plan": plan, "plan-live": planLive,
        "audit": audit, "admin": admin,
    ]

    static let head = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · n-kudo</title>
        <link rel="stylesheet" href="/ui/static/console.css">
        <script src="/ui/static/console.js" defer></script>
        </head>
        <body>
        <header>
        <a class="brand" href="/ui">n-kudo</a>
        {{#session}}
        <nav>
        {{#tenant}}<a href="/ui">Sites</a> <a href="/ui/audit">Audit</a>{{/tenant}}
        {{#admin}}<a href="/ui/admin">Tenants</a>{{/admin}}
        </nav>
        <span class="who" id="who">{{who}}</span>
        <form method="post" action="/ui/sign-out" class="inline">
        <input type="hidden" name="csrf_token" value="{{csrf}}">
        <button type="submit" id="sign-out">Sign out</button>
        </form>
        {{/session}}
        </header>
        <main>
        <h1>{{title}}</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}

        """

    static let foot = """
        </main>
        </body>
        </html>

        """

    static let signIn = """
        {{> head}}
        <form method="post" action="/ui/sign-in" class="card" id="sign-in-form">
        <input type="hidden" name="login_token" value="{{loginToken}}">
        <fieldset>
        <legend>Sign in with</legend>
        <label><input type="radio" name="kind" value="tenant" id="kind-tenant"{{^adminKind}} checked{{/adminKind}}> a tenant API key (X-API-Key)</label>
        <label><input type="radio" name="kind" value="admin" id="kind-admin"{{#adminKind}} checked{{/adminKind}}> the admin key (X-Admin-Key)</label>
        </fieldset>
        <label for="key">Key</label>
        <input type="password" name="key" id="key" autocomplete="off" required>
        <button type="submit" id="sign-in">Sign in</button>
        </form>
        {{> foot}}
        """

    static let message = """
        {{> head}}
        <p id="message">{{message}}</p>
        <p><a href="{{back}}">{{backLabel}}</a></p>
        {{> foot}}
        """

    static let sites = """
        {{> head}}
        <div id="live" data-live-url="/ui?fragment=live">{{> sites-live}}</div>
        {{> foot}}
        """

    static let sitesLive = """
        <table id="sites">
        <thead><tr><th>Site</th><th>State</th><th>Last heartbeat</th><th>Country</th><th>Created</th></tr></thead>
        <tbody>
        {{#sites}}
        <tr data-site-id="{{id}}"><td><a href="/ui/sites/{{id}}">{{name}}</a></td><td><span class="state state-{{state}}">{{state}}</span></td>
        <td>{{lastHeartbeat}}</td><td>{{country}}</td><td>{{created}}</td></tr>
        {{/sites}}
        {{^sites}}<tr><td colspan="5">No sites yet.</td></tr>{{/sites}}
        </tbody>
        </table>
        """

    static let site = """
        {{> head}}
        <p><a href="/ui/sites/{{site.id}}/plans">All plans of this site</a></p>
        <div id="live" data-live-url="/ui/sites/{{site.id}}?fragment=live">{{> site-live}}</div>
        <h2>Apply a plan</h2>
        <form method="post" action="/ui/sites/{{site.id}}/plans" class="card" id="apply-plan">
        <input type="hidden" name="csrf_token" value="{{csrf}}">
        <input type="hidden" name="idempotency_key" value="{{idempotencyKey}}">
        <label for="operation">Operation</label>
        <select name="operation" id="operation">
        <option value="CREATE">CREATE a VM</option>
        <option value="START">START a VM</option>
        <option value="STOP">STOP a VM</option>
        <option value="DELETE">DELETE a VM</option>
        </select>
        <label for="vm_id">VM (START, STOP, DELETE)</label>
        <select name="vm_id" id="vm_id">
        <option value="">—</option>
        {{#vms}}<option value="{{id}}">{{name}} ({{state}})</option>{{/vms}}
        </select>
        <label for="name">Name (CREATE)</label>
        <input type="text" name="name" id="name" maxlength="63" placeholder="web-1">
        <label for="vcpu_count">vCPUs</label>
        <input type="number" name="vcpu_count" id="vcpu_count" min="1" max="64" value="1">
        <label for="memory_mib">Memory (MiB)</label>
        <input type="number" name="memory_mib" id="memory_mib" min="128" value="256">
        <label for="image">Disk image (optional, from the hosts' catalogs)</label>
        <input type="text" name="image" id="image">
        <label for="kernel">Kernel (optional)</label>
        <input type="text" name="kernel" id="kernel">
        <label for="initrd">Initrd (optional)</label>
        <input type="text" name="initrd" id="initrd">
        <button type="submit" id="apply">Apply</button>
        </form>
        {{> foot}}
        """

    static let siteLive = """
        <p>State <span class="state state-{{site.state}}" id="site-state">{{site.state}}</span>
        · last heartbeat {{site.lastHeartbeat}}</p>
        <h2>Hosts</h2>
        <table id="hosts">
        <thead><tr><th>Host</th><th>Agent</th><th>Facts</th><th>Hypervisor</th><th>NetBird</th><th>Last heartbeat</th></tr></thead>
        <tbody>
        {{#hosts}}
        <tr data-host-id="{{id}}"><td>{{hostname}}{{#osHostname}} <small>(OS: {{osHostname}})</small>{{/osHostname}}</td>
        <td><span class="state state-{{agentState}}">{{agentState}}</span></td>
        <td>{{cpus}} CPUs, {{memory}}, {{storage}} disk, KVM {{kvm}}</td>
        <td>{{hypervisor}}</td>
        <td><span class="state state-{{netbirdState}}">{{netbirdState}}</span> {{netbirdDetail}}</td>
        <td>{{lastHeartbeat}}</td></tr>
        {{/hosts}}
        {{^hosts}}<tr><td colspan="6">No hosts enrolled yet.</td></tr>{{/hosts}}
        </tbody>
        </table>
        <h2>MicroVMs</h2>
        <table id="vms">
        <thead><tr><th>VM</th><th>State</th><th>Reason</th><th>Size</th><th>Hypervisor</th><th>Updated</th></tr></thead>
        <tbody>
        {{#vms}}
        <tr data-vm-id="{{id}}"><td><a href="/ui/sites/{{siteID}}/vms/{{id}}">{{name}}</a></td>
        <td><span class="state state-{{state}}">{{state}}</span></td><td>{{reason}}</td>
        <td>{{vcpus}} vCPU, {{memory}} MiB</td><td>{{hypervisor}}</td><td>{{updated}}</td></tr>
        {{/vms}}
        {{^vms}}<tr><td colspan="6">No VMs.</td></tr>{{/vms}}
        </tbody>
        </table>
        <h2>Recent plans</h2>
        {{> plan-rows}}
        """

    static let vm = """
        {{> head}}
        <p><a href="/ui/sites/{{siteID}}">Back to the site</a></p>
        <div id="live" data-live-url="/ui/sites/{{siteID}}/vms/{{vm.id}}?fragment=live">{{> vm-live}}</div>
        {{> foot}}
        """

    static let vmLive = """
        <dl class="facts">
        <dt>State</dt><dd><span class="state state-{{vm.state}}" id="vm-state">{{vm.state}}</span></dd>
        <dt>Reason</dt><dd id="vm-reason">{{vm.reason}}</dd>
        <dt>Size</dt><dd>{{vm.vcpus}} vCPU, {{vm.memory}} MiB</dd>
        <dt>Hypervisor</dt><dd>{{vm.hypervisor}}</dd>
        <dt>Image</dt><dd>{{vm.image}}</dd>
        <dt>Kernel</dt><dd>{{vm.kernel}}</dd>
        <dt>Host</dt><dd>{{vm.hostID}}</dd>
        <dt>Updated</dt><dd>{{vm.updated}}</dd>
        </dl>
        <h2>Console</h2>
        <p>{{#consoleUpdated}}Shipped {{consoleUpdated}}.{{/consoleUpdated}}{{^consoleUpdated}}Nothing shipped yet.{{/consoleUpdated}}</p>
        <pre id="console">{{console}}</pre>
        """

    static let planRows = """
        <table class="plans">
        <thead><tr><th>Plan</th><th>Version</th><th>Status</th><th>Actions</th><th>Created</th><th>Completed</th></tr></thead>
        <tbody>
        {{#plans}}
        <tr data-plan-id="{{id}}"><td><a href="/ui/plans/{{id}}">{{shortID}}</a></td><td>{{version}}</td>
        <td><span class="state state-{{status}}">{{status}}</span></td><td>{{actions}}</td><td>{{created}}</td><td>{{completed}}</td></tr>
        {{/plans}}
        {{^plans}}<tr><td colspan="6">No plans.</td></tr>{{/plans}}
        </tbody>
        </table>
        """

    static let plans = """
        {{> head}}
        <p><a href="/ui/sites/{{siteID}}">Back to the site</a></p>
        {{> plan-rows}}
        <p class="pager">{{#first}}<a href="/ui/sites/{{siteID}}/plans">Newest</a>{{/first}}
        {{#nextQuery}}<a href="/ui/sites/{{siteID}}/plans?cursor={{nextQuery}}" id="older">Older</a>{{/nextQuery}}</p>
        {{> foot}}
        """

    static let plan = """
        {{> head}}
        <p><a href="/ui/sites/{{plan.siteID}}">Back to the site</a></p>
        <div id="live" data-live-url="/ui/plans/{{plan.id}}?fragment=live">{{> plan-live}}</div>
        {{> foot}}
        """

    static let planLive = """
        <dl class="facts">
        <dt>Status</dt><dd><span class="state state-{{plan.status}}" id="plan-status">{{plan.status}}</span></dd>
        <dt>Version</dt><dd>{{plan.version}}</dd>
        <dt>Idempotency key</dt><dd>{{plan.idempotencyKey}}</dd>
        <dt>Created</dt><dd>{{plan.created}}</dd>
        <dt>Completed</dt><dd>{{plan.completed}}</dd>
        </dl>
        <h2>Executions</h2>
        {{#executions}}
        <section class="execution" data-execution-id="{{id}}">
        <h3>{{operation}} {{vmName}} <span class="state state-{{state}}">{{state}}</span></h3>
        {{#error}}<p class="error">{{error}}</p>{{/error}}
        <p>Started {{started}} · completed {{completed}}</p>
        <table class="logs">
        <thead><tr><th>Time</th><th>Severity</th><th>Message</th></tr></thead>
        <tbody>
        {{#logs}}<tr><td>{{time}}</td><td>{{severity}}</td><td class="log-message">{{message}}</td></tr>{{/logs}}
        {{^logs}}<tr><td colspan="3">No logs yet.</td></tr>{{/logs}}
        </tbody>
        </table>
        {{#moreLogs}}<p>Older lines: <code>GET /executions/{{id}}/logs</code> pages through all of them.</p>{{/moreLogs}}
        </section>
        {{/executions}}
        """

    static let audit = """
        {{> head}}
        <form method="get" action="/ui/audit" class="inline">
        <label for="action">Action (exact, or a prefix ending in “.”)</label>
        <input type="text" name="action" id="action" value="{{action}}">
        <button type="submit">Filter</button>
        </form>
        <table id="audit">
        <thead><tr><th>Time</th><th>Action</th><th>Actor</th><th>Resource</th><th>Source</th><th>Details</th></tr></thead>
        <tbody>
        {{#events}}
        <tr><td>{{time}}</td><td>{{action}}</td><td>{{actor}}</td><td>{{resource}}</td><td>{{source}}</td><td><code>{{metadata}}</code></td></tr>
        {{/events}}
        {{^events}}<tr><td colspan="6">No events.</td></tr>{{/events}}
        </tbody>
        </table>
        <p class="pager">{{#first}}<a href="/ui/audit?action={{actionQuery}}">Newest</a>{{/first}}
        {{#nextQuery}}<a href="/ui/audit?action={{actionQuery}}&amp;cursor={{nextQuery}}" id="older">Older</a>{{/nextQuery}}</p>
        {{> foot}}
        """

    static let admin = """
        {{> head}}
        <table id="tenants">
        <thead><tr><th>Tenant</th><th>Slug</th><th>Id</th><th>Region</th><th>Retention</th><th>Created</th></tr></thead>
        <tbody>
        {{#tenants}}
        <tr><td>{{name}}</td><td>{{slug}}</td><td><code>{{id}}</code></td><td>{{region}}</td><td>{{retention}} days</td><td>{{created}}</td></tr>
        {{/tenants}}
        {{^tenants}}<tr><td colspan="6">No tenants.</td></tr>{{/tenants}}
        </tbody>
        </table>
        {{> foot}}
        """
}
