/** etcd's Auth service on one member: turning authentication on and off. */
import type { MemberChannel } from './channel.js';
import { MemberRequestError } from './errors.js';

/** Auth calls on one member (Authenticate itself is the channel's: it holds the token). */
export class AuthService {
  constructor(private readonly channel: MemberChannel) {}

  /** Turns authentication on: adds the root user (with the root role) and enables auth. */
  async enableWithRoot(password: string): Promise<void> {
    await this.channel.unary('Auth', 'userAdd', { name: 'root', password });
    await this.channel.unary('Auth', 'userGrantRole', { user: 'root', role: 'root' });
    await this.channel.unary('Auth', 'authEnable', {});
  }

  /**
   * The same as `enableWithRoot`, safe to repeat after a run that stopped half-way: an existing
   * root user (auth still off, so no one can rely on its old password) gets `password`; granting
   * the role and enabling again are no-ops in etcd.
   */
  async ensureRootAndEnable(password: string): Promise<void> {
    try {
      await this.channel.unary('Auth', 'userAdd', { name: 'root', password });
    } catch (error) {
      if (!(error instanceof MemberRequestError) || !/user name already exists/i.test(error.message))
        throw error;
      await this.channel.unary('Auth', 'userChangePassword', { name: 'root', password });
    }
    await this.channel.unary('Auth', 'userGrantRole', { user: 'root', role: 'root' });
    await this.channel.unary('Auth', 'authEnable', {});
  }

  /** Whether authentication is on (AuthStatus, etcd 3.5+). */
  async enabled(): Promise<boolean> {
    const response = await this.channel.unary<{ enabled?: boolean }>('Auth', 'authStatus', {});
    return response.enabled === true;
  }
}
