/** etcd's Auth service on one member: turning authentication on and off. */
import type { MemberChannel } from './channel.js';

/** Auth calls on one member (Authenticate itself is the channel's: it holds the token). */
export class AuthService {
  constructor(private readonly channel: MemberChannel) {}

  /** Turns authentication on: adds the root user (with the root role) and enables auth. */
  async enableWithRoot(password: string): Promise<void> {
    await this.channel.unary('Auth', 'userAdd', { name: 'root', password });
    await this.channel.unary('Auth', 'userGrantRole', { user: 'root', role: 'root' });
    await this.channel.unary('Auth', 'authEnable', {});
  }
}
