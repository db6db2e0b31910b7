// Who is signed in, which orgs they have, which org is selected.
import { defineStore } from 'pinia'
import { api, setOrgProvider } from '@/api/client'
import { listAll } from '@/api/resources'
import type { Org, UserProfile } from '@/api/types'

const ORG_KEY = 'pc.org'
/** Set while this browser has a signed-in session: a 401 then means the session ended. */
const SIGNED_IN_KEY = 'pc.signedIn'
export const DEFAULT_ORG = '00000000-0000-0000-0000-000000000002'

type RoleRef = { id: string; name?: string; display_name?: string }

function roleIds(u: UserProfile | null): string[] {
  if (!u) return []
  const all = [...((u.system_roles as RoleRef[]) || []), ...((u.org_roles as RoleRef[]) || [])]
  return all.map((r) => r.id)
}

export const useSession = defineStore('session', {
  state: () => ({
    user: null as UserProfile | null,
    orgs: [] as Org[],
    orgId: (typeof localStorage !== 'undefined' && localStorage.getItem(ORG_KEY)) || '',
    loaded: false,
  }),
  getters: {
    org(state): Org | undefined {
      return state.orgs.find((o) => o.id === state.orgId)
    },
    /** System admin or org admin: sees the console. */
    isAdmin(state): boolean {
      const ids = roleIds(state.user)
      return !!state.user?.is_superuser || !!state.user?.is_org_admin || ids.some((i) => i.endsWith('-000000000001') || i.endsWith('-000000000005'))
    },
    /** Admins and auditors see the audit area. */
    isAuditor(state): boolean {
      const ids = roleIds(state.user)
      return ids.some((i) => /-00000000000[1256]$/.test(i)) || !!state.user?.is_superuser || !!state.user?.is_org_admin
    },
  },
  actions: {
    /** Loads the profile; false when not signed in. */
    async load(force = false): Promise<boolean> {
      if (this.loaded && !force) return !!this.user
      try {
        this.user = await api.get<UserProfile>('users/profile/', undefined, { noAuthRedirect: true, org: null })
      } catch {
        this.user = null
      }
      this.loaded = true
      if (this.user) {
        localStorage.setItem(SIGNED_IN_KEY, '1')
        await this.loadOrgs()
      }
      return !!this.user
    },
    /** True (once) when this browser was signed in and the server no longer knows the session. */
    takeEnded(): boolean {
      const was = localStorage.getItem(SIGNED_IN_KEY) === '1'
      localStorage.removeItem(SIGNED_IN_KEY)
      return was
    },
    async loadOrgs() {
      try {
        this.orgs = await listAll<Org>('orgs/orgs/', {}, 200)
      } catch {
        this.orgs = []
      }
      const usable = this.orgs.filter((o) => !o.is_root)
      if (!this.orgs.some((o) => o.id === this.orgId)) {
        const pick = usable.find((o) => o.is_default) || usable[0] || this.orgs[0]
        this.orgId = pick?.id || ''
      }
    },
    setOrg(id: string) {
      this.orgId = id
      localStorage.setItem(ORG_KEY, id)
    },
    setUser(u: UserProfile) {
      this.user = u
      this.loaded = true
      localStorage.setItem(SIGNED_IN_KEY, '1')
    },
    async logout() {
      try {
        await api.post('authentication/logout/', {}, { noAuthRedirect: true })
      } catch {
        /* already gone */
      }
      this.user = null
      this.orgs = []
      this.loaded = true
      localStorage.removeItem(SIGNED_IN_KEY)
    },
  },
})

/** Wires the client's org header to the store. */
export function bindOrgHeader(store: ReturnType<typeof useSession>) {
  setOrgProvider(() => store.orgId || null)
}
